# Reference values for tests/test_causes.py (monotone likelihood in the cause-specific Cox model), computed once
# with R's survival package and committed. Run from this folder:  Rscript make_reference.R
# demo_payment_failure.csv: the design of notebook 06's payment-failure model on data/demo (README.md).
library(survival)
options(digits = 15)
d <- read.csv("demo_payment_failure.csv", stringsAsFactors = FALSE)
terms <- c("plan_Enterprise", "plan_Pro", "touch_model_high", "touch_model_low", "log2_seats",
           "acquisition_channel_outbound", "acquisition_channel_partner")
# the group no payment-failure churn came from: Pro on the high touch model
d$apart <- as.integer(d$plan_Pro == 1 & d$touch_model_high == 1)
cat("customers Pro/high:", sum(d$apart), " their events:", sum(d$E[d$apart == 1]),
    " Enterprise not high:", sum(d$plan_Enterprise == 1 & d$touch_model_high == 0), "\n")
rows <- list()
add <- function(fit, design) {
  s <- summary(fit)$coefficients
  for (t in terms) {
    if (t %in% rownames(s) && !is.na(s[t, "coef"])) {
      rows[[length(rows) + 1]] <<- data.frame(design = design, term = t, coef = s[t, "coef"],
                                              se = s[t, "se(coef)"], p = s[t, "Pr(>|z|)"])
    }
  }
}
f <- function(v) as.formula(paste("Surv(entry, T, E) ~", paste(v, collapse = " + ")))
# 1. every term on every customer: the fit runs off (monotone likelihood); kept to show it
plain <- suppressWarnings(coxph(f(terms), data = d))
add(plain, "plain")
# 2. the extended MLE as a stratified fit: strata by the position along the direction (Pro/high apart);
#    touch_model_high left out (within the stratum with events it equals plan_Enterprise)
add(coxph(f(c(setdiff(terms, "touch_model_high"), "strata(apart)")), data = d), "stratified")
# 3. the same from the customers other than Pro/high, every term: R marks touch_model_high as aliased (NA)
add(coxph(f(terms), data = d[d$apart == 0, ]), "without_group")
write.csv(do.call(rbind, rows), "reference.csv", row.names = FALSE)
cat(R.version.string, "survival", as.character(packageVersion("survival")), "\n")
