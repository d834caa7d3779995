# Reference for an arm that separates the outcome (no responders in arm C) while the other arms
# do not: R beeca on a glm that converges with C's coefficient near -30 (fitted risks of about
# 1e-16 in C), run in this folder:
#   Rscript separated_arm.R
# The comparison B vs A is well defined (its estimates are those at the supremum of the
# likelihood, which glm approaches); C vs A is not estimable, and is written here only so that
# the test can check that the project refuses it. Data simulated below with a fixed seed.
suppressMessages(library(beeca))
set.seed(20261202)
n <- c(A = 60, B = 55, C = 40)
arm <- rep(names(n), n)
age <- round(rnorm(sum(n), 45, 12))
region <- sample(c("north", "south", "west"), sum(n), replace = TRUE)
site <- sample(c("s1", "s2"), sum(n), replace = TRUE)
lp <- -0.8 + 0.9 * (arm == "B") + 0.03 * (age - 45) + 0.4 * (region == "south")
y <- rbinom(sum(n), 1, plogis(lp))
y[arm == "C"] <- 0L
d <- data.frame(subject = sprintf("P%03d", seq_len(sum(n))), arm, age, region, site, y)
write.csv(d, "separated_arm.csv", row.names = FALSE)
d$arm <- factor(d$arm, levels = c("A", "B", "C"))
fit <- suppressWarnings(glm(y ~ arm + age + region + site, family = binomial, data = d,
                            control = glm.control(epsilon = 1e-14, maxit = 100)))
stopifnot(fit$converged)
out <- NULL
for (m in c("ge", "ye")) {
  for (ct in c("diff", "rr", "or")) {
    r <- get_marginal_effect(fit, trt = "arm", method = if (m == "ye") "Ye" else "Ge",
                             type = "HC0", contrast = ct, reference = "A",
                             strata = if (m == "ye") "site" else NULL)
    out <- rbind(out, data.frame(variance = m, contrast = ct, arm = c("B", "C"), reference = "A",
                                 estimate = as.numeric(r$marginal_est),
                                 se = as.numeric(r$marginal_se),
                                 risk_arm = as.numeric(r$counterfactual.means[c("B", "C")]),
                                 risk_reference = as.numeric(r$counterfactual.means["A"])))
  }
}
out$coef_armC <- unname(coef(fit)["armC"])
write.csv(format(out, digits = 15), "separated_arm_effects.csv", row.names = FALSE, quote = FALSE)
writeLines(c(sprintf("beeca %s", packageVersion("beeca")), R.version.string),
           "separated_arm_versions.txt")
