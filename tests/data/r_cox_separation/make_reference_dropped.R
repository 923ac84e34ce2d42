# Reference values for tests/test_causes.py (monotone likelihood with a level dropped whole), computed once with R's
# survival package and committed. Run from this folder:  Rscript make_reference_dropped.R
# dropped_level.csv: a small constructed design (README.md): no Pro customer has an event, every Enterprise
# customer is high-touch and every other high-touch customer is Pro.
library(survival)
options(digits = 15)
d <- read.csv("dropped_level.csv", stringsAsFactors = FALSE)
terms <- c("plan_Enterprise", "plan_Pro", "touch_model_high", "touch_model_low", "x")
# the customers no event came from: Pro (any touch model); high-touch customers other than Enterprise are all Pro
d$apart <- as.integer(d$plan_Pro == 1 | (d$touch_model_high == 1 & d$plan_Enterprise == 0))
cat("customers apart:", sum(d$apart), " their events:", sum(d$E[d$apart == 1]), "\n")
rows <- list()
add <- function(fit, design) {
  s <- summary(fit)$coefficients
  for (t in terms) {
    if (t %in% rownames(s)) {
      rows[[length(rows) + 1]] <<- data.frame(design = design, term = t, coef = s[t, "coef"],
                                              se = s[t, "se(coef)"], p = s[t, "Pr(>|z|)"])
    }
  }
}
f <- function(v) as.formula(paste("Surv(entry, T, E) ~", paste(v, collapse = " + ")))
# 1. the extended MLE as a stratified fit, every term: the stratum apart has no event; within the other, plan_Pro
#    is 0 and touch_model_high equals plan_Enterprise, so R marks both aliased (NA)
add(coxph(f(c(terms, "strata(apart)")), data = d), "stratified")
# 2. the same from the customers not apart, every term (plan_Pro and touch_model_high aliased again)
add(coxph(f(terms), data = d[d$apart == 0, ]), "without_group")
write.csv(do.call(rbind, rows), "reference_dropped.csv", row.names = FALSE)
cat(R.version.string, "survival", as.character(packageVersion("survival")), "\n")
