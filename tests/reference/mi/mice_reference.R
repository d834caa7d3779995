# Reference for tests/test_imputation.py: R mice (method "norm", Bayesian linear regression,
# chained equations), imputing each arm separately, then ANCOVA of change at 12 months on arm
# and baseline in every completed data set, pooled by mice::pool (Rubin's rules, Barnard-Rubin df).
# Also mice::pool.scalar on fixed inputs, to check the pooling formulas exactly.
# Input: ../response/synthetic_trial.csv (the fixed snapshot of the synthetic trial).
# Run: Rscript mice_reference.R   (writes mice_pooled.csv, pool_scalar.csv, versions.txt)
suppressMessages(library(mice))
d <- read.csv("../response/synthetic_trial.csv", stringsAsFactors = FALSE)
d <- d[d$arm %in% c("PeGT", "TAU"), c("subject_id", "arm", "visit", "hamd17")]
w <- reshape(d, idvar = c("subject_id", "arm"), timevar = "visit", direction = "wide")
names(w) <- sub("hamd17.", "v", names(w), fixed = TRUE)
w <- w[!is.na(w$v0), c("subject_id", "arm", "v0", "v1.5", "v3", "v6", "v12")]
M <- 500
imp_arm <- function(arm, seed) {
  x <- w[w$arm == arm, c("v0", "v1.5", "v3", "v6", "v12")]
  imp <- mice(x, method = "norm", m = M, maxit = 20, seed = seed, printFlag = FALSE)
  lapply(seq_len(M), function(j) cbind(arm = arm, complete(imp, j)))
}
pegt <- imp_arm("PeGT", 101)
tau <- imp_arm("TAU", 202)
fits <- lapply(seq_len(M), function(j) {
  cj <- rbind(pegt[[j]], tau[[j]])
  cj$arm <- factor(cj$arm, levels = c("TAU", "PeGT"))
  lm(I(v12 - v0) ~ arm + v0, data = cj)
})
pooled <- pool(as.mira(fits))
s <- summary(pooled, conf.int = TRUE)
p <- pooled$pooled[pooled$pooled$term == "armPeGT", ]
r <- s[s$term == "armPeGT", ]
out <- data.frame(arm = "PeGT", reference = "TAU", visit = 12, m = M,
                  estimate = r$estimate, se = r$std.error, df = r$df, p = r$p.value,
                  ci_low = r$`2.5 %`, ci_high = r$`97.5 %`, ubar = p$ubar, b = p$b,
                  total_variance = p$t, lambda = p$lambda, riv = p$riv, fmi = p$fmi,
                  df_complete = p$dfcom, n_pegt = sum(w$arm == "PeGT"), n_tau = sum(w$arm == "TAU"),
                  missing_v12 = sum(is.na(w$v12)))
write.csv(out, "mice_pooled.csv", row.names = FALSE)

# pool.scalar on fixed inputs (n - k = complete-data df)
cases <- list(
  list(Q = c(1.0, 1.2, 0.9), U = c(0.04, 0.05, 0.045), n = 53, k = 3),
  list(Q = c(-2.1, -3.4, -2.8, -1.9, -2.5), U = c(1.9, 2.1, 1.8, 2.0, 2.2), n = 88, k = 3),
  list(Q = c(0.3, 0.31, 0.29, 0.30), U = c(0.5, 0.5, 0.5, 0.5), n = 20, k = 4)
)
ps <- do.call(rbind, lapply(seq_along(cases), function(i) {
  cc <- cases[[i]]
  r <- pool.scalar(cc$Q, cc$U, n = cc$n, k = cc$k)
  data.frame(case = i, estimates = paste(cc$Q, collapse = ";"), variances = paste(cc$U, collapse = ";"),
             df_complete = cc$n - cc$k, qbar = r$qbar, ubar = r$ubar, b = r$b, t = r$t,
             df = r$df, r = r$r, fmi = r$fmi)
}))
write.csv(ps, "pool_scalar.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("mice", packageVersion("mice"))), "versions.txt")
