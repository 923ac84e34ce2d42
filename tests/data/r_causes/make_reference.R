# Reference values for tests/test_causes.py, computed once with R's survival package and committed.
# Run from this folder:  Rscript make_reference.R
# competing.csv: 300 generated spells (id, entry, T in whole months, cause: censored / payment_failure / voluntary),
# every time tied, 20% left-truncated (made by the snippet in README.md).
library(survival)
options(digits = 15)
d <- read.csv("competing.csv", stringsAsFactors = FALSE)
d$status <- factor(d$cause, levels = c("censored", "payment_failure", "voluntary"))
rows <- list()
add <- function(fit, design) {
  s <- summary(fit, times = 0:24, extend = TRUE)
  for (k in c("payment_failure", "voluntary")) {
    j <- match(k, s$states)
    rows[[length(rows) + 1]] <<- data.frame(design = design, cause = k, time = s$time, cif = s$pstate[, j])
  }
}
# without truncation: time from 0
add(survfit(Surv(T, status) ~ 1, data = d), "no_entry")
# with left truncation (counting process; at risk on (entry, T])
add(survfit(Surv(entry, T, status) ~ 1, data = d, id = id), "entry")
write.csv(do.call(rbind, rows), "reference.csv", row.names = FALSE)
cat(R.version.string, "survival", as.character(packageVersion("survival")), "\n")
