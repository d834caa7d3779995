# Reference for tests/test_imputation.py: an independent R implementation of the joint
# multivariate normal imputation model (Schafer 1997, ch. 5: EM start, then data augmentation
# with the non-informative prior |Sigma|^-(p+1)/2, i.e. Sigma | Y ~ inverse Wishart(n - 1, S),
# mu | Sigma, Y ~ N(ybar, Sigma / n)), each arm imputed separately; ANCOVA of change at 12
# months on arm and baseline in every completed data set, pooled by mice::pool (Rubin's rules,
# Barnard-Rubin df). Written from the formulas, not from the Python code; R's own RNG.
# (Schafer's package norm, the usual reference, is not installable on this machine.)
# Input: ../response/synthetic_trial.csv. Run: Rscript mvn_da_reference.R  (writes mvn_da_pooled.csv)
suppressMessages(library(mice))
d <- read.csv("../response/synthetic_trial.csv", stringsAsFactors = FALSE)
d <- d[d$arm %in% c("PeGT", "TAU"), c("subject_id", "arm", "visit", "hamd17")]
w <- reshape(d, idvar = c("subject_id", "arm"), timevar = "visit", direction = "wide")
names(w) <- sub("hamd17.", "v", names(w), fixed = TRUE)
w <- w[!is.na(w$v0), c("subject_id", "arm", "v0", "v1.5", "v3", "v6", "v12")]

cond <- function(y, mu, S) {  # conditional mean and covariance of the missing part of row y
  m <- is.na(y); o <- !m
  B <- S[m, o, drop = FALSE] %*% solve(S[o, o, drop = FALSE])
  list(m = m, mean = drop(mu[m] + B %*% (y[o] - mu[o])), cov = S[m, m, drop = FALSE] - B %*% S[o, m, drop = FALSE])
}
em <- function(Y, iters = 1000) {
  mu <- colMeans(Y, na.rm = TRUE); S <- cov(Y, use = "pairwise.complete.obs")
  for (it in seq_len(iters)) {
    Z <- Y; extra <- matrix(0, ncol(Y), ncol(Y))
    for (i in which(rowSums(is.na(Y)) > 0)) {
      cc <- cond(Y[i, ], mu, S); Z[i, cc$m] <- cc$mean; extra[cc$m, cc$m] <- extra[cc$m, cc$m] + cc$cov
    }
    mu_new <- colMeans(Z); R <- sweep(Z, 2, mu_new)
    S_new <- (crossprod(R) + extra) / nrow(Y)
    done <- max(abs(mu_new - mu), abs(S_new - S)) < 1e-9
    mu <- mu_new; S <- S_new
    if (done) break
  }
  list(mu = mu, S = S)
}
istep <- function(Y, mu, S) {
  Z <- Y
  for (i in which(rowSums(is.na(Y)) > 0)) {
    cc <- cond(Y[i, ], mu, S)
    Z[i, cc$m] <- cc$mean + drop(t(chol(cc$cov)) %*% rnorm(sum(cc$m)))
  }
  Z
}
pstep <- function(Z) {
  n <- nrow(Z); ybar <- colMeans(Z); R <- sweep(Z, 2, ybar)
  K <- rWishart(1, n - 1, solve(crossprod(R)))[, , 1]  # Sigma^-1 ~ Wishart(n - 1, S^-1)
  S <- solve(K)
  list(mu = ybar + drop(t(chol(S / n)) %*% rnorm(ncol(Z))), S = S)
}
M <- 500; STEPS <- 50
set.seed(2016)
imp_arm <- function(arm) {
  Y <- as.matrix(w[w$arm == arm, c("v0", "v1.5", "v3", "v6", "v12")])
  start <- em(Y)
  lapply(seq_len(M), function(j) {
    th <- start
    for (s in seq_len(STEPS)) th <- pstep(istep(Y, th$mu, th$S))
    data.frame(arm = arm, istep(Y, th$mu, th$S))
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
write.csv(out, "mvn_da_pooled.csv", row.names = FALSE)
