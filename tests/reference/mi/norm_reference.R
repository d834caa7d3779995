# Reference for tests/test_imputation.py: Schafer's R package norm (the joint multivariate normal
# model, data augmentation with the default non-informative prior, started at the EM estimates),
# each arm imputed separately, then ANCOVA of change at 12 months on arm and baseline in every
# completed data set, pooled by mice::pool (Rubin's rules, Barnard-Rubin df).
# This is the same model and algorithm as ipt_outcomes.imputation.impute_mvn, implemented
# independently. Input: ../response/synthetic_trial.csv (the fixed synthetic snapshot).
# Run: Rscript norm_reference.R   (writes norm_pooled.csv)
suppressMessages({library(norm); library(mice)})
d <- read.csv("../response/synthetic_trial.csv", stringsAsFactors = FALSE)
d <- d[d$arm %in% c("PeGT", "TAU"), c("subject_id", "arm", "visit", "hamd17")]
w <- reshape(d, idvar = c("subject_id", "arm"), timevar = "visit", direction = "wide")
names(w) <- sub("hamd17.", "v", names(w), fixed = TRUE)
w <- w[!is.na(w$v0), c("subject_id", "arm", "v0", "v1.5", "v3", "v6", "v12")]
M <- 500
rngseed(2016)
imp_arm <- function(arm) {
  x <- as.matrix(w[w$arm == arm, c("v0", "v1.5", "v3", "v6", "v12")])
  s <- prelim.norm(x)
  theta_hat <- em.norm(s, showits = FALSE)
  lapply(seq_len(M), function(j) {
    theta <- da.norm(s, theta_hat, steps = 50, showits = FALSE)
    data.frame(arm = arm, imp.norm(s, theta, x))
  })
}
pegt <- imp_arm("PeGT")
tau <- imp_arm("TAU")
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
                  df_complete = p$dfcom)
write.csv(out, "norm_pooled.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("mice", packageVersion("mice")), paste("norm", packageVersion("norm"))), "versions.txt")
