# Reference values for tests/test_snapshot_survival.py, computed once with R's survival package and committed
# (as statsmodels does). Run from this folder:  Rscript make_reference.R
# telco_like.csv: a generated CRM snapshot (tenure in months, Churn Yes/No, Contract), made by
# tests/test_snapshot_survival.py::_export(n=700, seed=11); late_entry.csv: (entry, T, E) with left truncation.
library(survival)
options(digits = 15)
d <- read.csv("telco_like.csv", stringsAsFactors = FALSE)
d$E <- as.integer(d$Churn == "Yes")
rows <- list()
add <- function(quantity, group, time, value) {
  rows[[length(rows) + 1]] <<- data.frame(quantity = quantity, group = group, time = time, value = value)
}
fit <- survfit(Surv(tenure, E) ~ 1, data = d, conf.type = "log-log")
s <- summary(fit, times = c(0, 6, 12, 24, 48, 71), extend = TRUE)
add("surv", "all", s$time, s$surv); add("lower", "all", s$time, s$lower); add("upper", "all", s$time, s$upper)
add("n_risk", "all", s$time, s$n.risk)
tab <- summary(fit, rmean = 24)$table
add("rmean", "all", 24, tab[["rmean"]]); add("se_rmean", "all", 24, tab[["se(rmean)"]]); add("median", "all", NA, tab[["median"]])
bys <- survfit(Surv(tenure, E) ~ Contract, data = d, conf.type = "log-log")
sb <- summary(bys, times = c(6, 12, 24), extend = TRUE)
g <- sub("Contract=", "", as.character(sb$strata))
add("surv", g, sb$time, sb$surv); add("lower", g, sb$time, sb$lower); add("upper", g, sb$time, sb$upper)
tb <- summary(bys, rmean = 24)$table
g <- sub("Contract=", "", rownames(tb))
add("rmean", g, 24, tb[, "rmean"]); add("se_rmean", g, 24, tb[, "se(rmean)"]); add("median", g, NA, tb[, "median"])
lr <- survdiff(Surv(tenure, E) ~ Contract, data = d)
add("logrank_chisq", "all", NA, lr$chisq)
d$Contract <- relevel(factor(d$Contract), ref = "Month-to-month")
cx <- coxph(Surv(tenure, E) ~ Contract, data = d, ties = "efron")
add("cox_coef", sub("Contract", "plan=", names(coef(cx))), NA, unname(coef(cx)))
add("cox_se", sub("Contract", "plan=", names(coef(cx))), NA, unname(sqrt(diag(vcov(cx)))))
le <- read.csv("late_entry.csv")
lf <- survfit(Surv(entry, T, E) ~ 1, data = le)
lt <- summary(lf, rmean = 24)$table
add("rmean", "late_entry", 24, lt[["rmean"]]); add("se_rmean", "late_entry", 24, lt[["se(rmean)"]])
write.csv(do.call(rbind, rows), "reference.csv", row.names = FALSE)
