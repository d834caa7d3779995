# nlme::gls references for the MMRM covariance structures other than R mmrm's unstructured
# (which ../../../../shared/reference/mmrm pins). Run here: Rscript make_gls_reference.R
# R 4.2.2, nlme (sessionInfo_gls.txt).
# Model as in SPEC.md: chg ~ visit + arm:visit + base:visit, REML, on btheb_long.csv and riesby.csv.
# Structures: us = corSymm + varIdent; cs = corCompSymm; csh = corCompSymm + varIdent;
# ar1 = corAR1 (by visit index); ar1h = corAR1 + varIdent; toep = corARMA(p = T - 1) (the
# stationary AR(T-1) correlations are exactly the positive-definite Toeplitz correlations);
# toeph = corARMA(p = T - 1) + varIdent. nlme has no ante-dependence structure.
# Output per data set and structure: LS means (baseline at its mean over the analysed rows, the
# emmeans convention, computed here from R's model matrix) and arm - reference contrasts per
# visit with model-based (unadjusted) SEs from vcov(gls), and
# -2 REML log-likelihood (nlme's, which here equals mmrm's for the same model: the unstructured
# fit gives the value pinned in shared/reference/mmrm), with log|X'X| of R's model matrix for
# reference.
suppressMessages(library(nlme))
ext <- "../../../../shared/data/external"

run <- function(x, ref, name) {
  x <- x[!is.na(x$score) & !is.na(x$base), ]
  x$chg <- x$score - x$base
  x$visit <- factor(x$visit, levels = sort(unique(x$visit)))
  x$vidx <- as.integer(x$visit)
  x$arm <- relevel(factor(x$arm), ref); x$subject <- factor(x$subject)
  x <- x[order(x$subject, x$vidx), ]
  T <- nlevels(x$visit)
  f <- chg ~ visit + arm:visit + base:visit
  ctl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12, returnObject = FALSE)
  specs <- list(
    us = list(corSymm(form = ~ vidx | subject), varIdent(form = ~ 1 | visit)),
    cs = list(corCompSymm(form = ~ vidx | subject), NULL),
    csh = list(corCompSymm(form = ~ vidx | subject), varIdent(form = ~ 1 | visit)),
    ar1 = list(corAR1(form = ~ vidx | subject), NULL),
    ar1h = list(corAR1(form = ~ vidx | subject), varIdent(form = ~ 1 | visit)),
    toep = list(corARMA(form = ~ vidx | subject, p = T - 1, q = 0), NULL),
    toeph = list(corARMA(form = ~ vidx | subject, p = T - 1, q = 0), varIdent(form = ~ 1 | visit))
  )
  ls_all <- NULL; ct_all <- NULL; fit_all <- NULL
  X <- model.matrix(f, x)
  logdet_xtx <- as.numeric(determinant(crossprod(X), logarithm = TRUE)$modulus)
  for (s in names(specs)) {
    fit <- gls(f, data = x, correlation = specs[[s]][[1]], weights = specs[[s]][[2]], method = "REML", control = ctl)
    # LS means by hand: reference grid with baseline at its mean over the analysed rows
    grid <- expand.grid(arm = levels(x$arm), visit = levels(x$visit))
    grid$arm <- factor(grid$arm, levels = levels(x$arm)); grid$visit <- factor(grid$visit, levels = levels(x$visit))
    grid$base <- mean(x$base)
    L <- model.matrix(delete.response(terms(f)), grid)
    b <- coef(fit); V <- vcov(fit)
    ls_all <- rbind(ls_all, data.frame(covariance = s, arm = grid$arm, visit = grid$visit,
                                       estimate = drop(L %*% b), se = sqrt(diag(L %*% V %*% t(L)))))
    for (a in setdiff(levels(x$arm), ref)) for (v in levels(x$visit)) {
      d <- L[grid$arm == a & grid$visit == v, ] - L[grid$arm == ref & grid$visit == v, ]
      ct_all <- rbind(ct_all, data.frame(covariance = s, arm = a, reference = ref, visit = v,
                                         estimate = sum(d * b), se = sqrt(drop(t(d) %*% V %*% d))))
    }
    fit_all <- rbind(fit_all, data.frame(covariance = s, neg2_loglik_nlme = -2 * as.numeric(logLik(fit)),
                                         logdet_xtx = logdet_xtx, n_obs = nrow(x), n_subjects = nlevels(x$subject)))
  }
  write.csv(ls_all, sprintf("gls_%s_lsmeans.csv", name), row.names = FALSE)
  write.csv(ct_all, sprintf("gls_%s_contrasts.csv", name), row.names = FALSE)
  write.csv(fit_all, sprintf("gls_%s_fit.csv", name), row.names = FALSE)
}

b <- read.csv(file.path(ext, "btheb_long.csv"))
run(data.frame(subject = b$subject, arm = b$treatment, visit = b$time, score = b$bdi, base = b$bdi.pre), "TAU", "btheb")
r <- read.csv(file.path(ext, "riesby.csv"))
base <- r[r$week == 0, c("id", "hamd")]; names(base)[2] <- "base"
r <- merge(r[r$week != 0, ], base, by = "id")
run(data.frame(subject = r$id, arm = ifelse(r$endog == 1, "endogenous", "non-endogenous"), visit = r$week,
               score = r$hamd, base = r$base), "non-endogenous", "riesby")
writeLines(capture.output(sessionInfo()), "sessionInfo_gls.txt")
