# R mmrm references for the MMRM acceptance check (issue 26) on trial.csv (make_acceptance_data.py).
# Run in this folder: Rscript make_reference.R robust & Rscript make_reference.R rest
# (two parts that may run side by side; R, mmrm 0.3.18 built from source, emmeans; versions in
# sessionInfo.txt). Writes reference_<part>.csv: one row per LS mean, contrast, Type III test and
# fit summary of each case (case = label|method|vcov). The "robust" part holds the Satterthwaite
# df with an empirical covariance, which R computes from n_obs x (p n_subjects) matrices
# (minutes per case); the other parts use it with residual or between-within df.
#
# "cli_*" cases are the command line's model (SPEC): chg ~ visit + arm:visit + base:visit
# [+ covariates] + <structure>(visit | subject), sp_exp on the design's times (the week values);
# "formula_*" cases are formulas given to ipt_outcomes.mmrm. LS means: emmeans ~ arm | visit
# (numeric covariates at their mean over the analysed rows, factor levels weighted equally);
# contrasts trt.vs.ctrl against Placebo, no adjustment; -2 log-likelihood from logLik.
suppressMessages({library(mmrm); library(emmeans)})
emm_options(msg.nesting = FALSE)
options(warn = 1)

d <- read.csv("trial.csv", check.names = FALSE, encoding = "UTF-8")
b <- d[d$week == 0 & !is.na(d$madrs), c("pid", "madrs")]
names(b) <- c("pid", "base")
x <- merge(d[d$week != 0, ], b, by = "pid")
x <- x[!is.na(x$madrs), ]
x$chg <- x$madrs - x$base
x$time <- x$week
x$visit <- factor(x$week, levels = sort(unique(x$week)))
x$arm <- relevel(factor(x$group), "Placebo")
x$subject <- factor(x$pid)
x$region <- factor(x$region)

tables <- function(fit, case, anova) {
  em <- emmeans(fit, ~ arm | visit)
  ls <- as.data.frame(summary(em))
  ct <- as.data.frame(summary(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"),
                              infer = c(TRUE, TRUE)))
  an <- if (anova) mmrm:::Anova.mmrm(fit, type = "III") else NULL
  na <- if (is.null(an)) 0 else nrow(an)
  n <- nrow(ls) + nrow(ct) + na + 1
  blank <- function(k) rep(NA, k)
  data.frame(
    case = case,
    table = c(rep("lsmeans", nrow(ls)), rep("contrasts", nrow(ct)), rep("anova", na), "fit"),
    arm = c(as.character(ls$arm), sub(" - .*$", "", as.character(ct$contrast)), blank(na + 1)),
    visit = c(as.character(ls$visit), as.character(ct$visit), blank(na + 1)),
    term = c(blank(nrow(ls) + nrow(ct)), if (na) rownames(an), NA),
    estimate = c(ls$emmean, ct$estimate, blank(na + 1)),
    se = c(ls$SE, ct$SE, blank(na + 1)),
    df = c(ls$df, ct$df, blank(na + 1)),
    t = c(blank(nrow(ls)), ct$t.ratio, blank(na + 1)),
    p = c(blank(nrow(ls)), ct$p.value, if (na) an[["Pr(>F)"]], NA),
    ci_low = c(ls$lower.CL, ct$lower.CL, blank(na + 1)),
    ci_high = c(ls$upper.CL, ct$upper.CL, blank(na + 1)),
    num_df = c(blank(nrow(ls) + nrow(ct)), if (na) an$Df, NA),
    den_df = c(blank(nrow(ls) + nrow(ct)), if (na) an$Res.Df, NA),
    f = c(blank(nrow(ls) + nrow(ct)), if (na) an$F, NA),
    neg2_loglik = c(blank(n - 1), -2 * as.numeric(logLik(fit))),
    n_obs = c(blank(n - 1), component(fit, "n_obs"))
  )
}

KR <- c("Kenward-Roger", "Kenward-Roger"); KRL <- c("Kenward-Roger", "Kenward-Roger-Linear")
SA <- c("Satterthwaite", "Asymptotic"); SE <- c("Satterthwaite", "Empirical")
SBR <- c("Satterthwaite", "Empirical-Bias-Reduced"); SJ <- c("Satterthwaite", "Empirical-Jackknife")
RE <- c("Residual", "Empirical"); BJ <- c("Between-Within", "Empirical-Jackknife")
cli <- "chg ~ visit + arm:visit + base:visit"
RBR <- c("Residual", "Empirical-Bias-Reduced"); RJ <- c("Residual", "Empirical-Jackknife")
BE <- c("Between-Within", "Empirical")
part <- commandArgs(trailingOnly = TRUE)[1]
cases <- if (identical(part, "robust")) list(
  list("cli_us", paste(cli, "+ us(visit | subject)"), NULL, TRUE, list(SE, SBR, SJ)),
  list("cli_us_weighted", paste(cli, "+ us(visit | subject)"), "w", TRUE, list(SBR))
) else list(
  list("cli_us", paste(cli, "+ us(visit | subject)"), NULL, TRUE, list(KR, KRL, SA, RE, RBR, RJ, BJ, BE)),
  list("cli_sp_exp", paste(cli, "+ sp_exp(time | subject)"), NULL, TRUE, list(KRL, KR, SA, RE)),
  list("cli_us_weighted", paste(cli, "+ us(visit | subject)"), "w", TRUE, list(SA, KR, RBR)),
  list("cli_toeph_weighted", paste(cli, "+ toeph(visit | subject)"), "w", TRUE, list(KRL, RBR)),
  list("cli_us_covariates", paste(cli, "+ x + region + us(visit | subject)"), NULL, TRUE, list(KRL, RJ)),
  list("cli_us_ml", paste(cli, "+ us(visit | subject)"), NULL, FALSE, list(SA, RE)),
  list("formula_x_interaction", "chg ~ x + arm * visit + us(visit | subject)", NULL, TRUE, list(KR, SA, RBR)),
  list("formula_group_csh", "chg ~ region + base + arm * visit + csh(visit | arm / subject)", NULL, TRUE, list(SA, KRL)),
  list("formula_sp_exp_weighted", "chg ~ arm * visit + base * visit + sp_exp(time | subject)", "w", TRUE, list(KR, RE))
)
out <- list()
for (cs in cases) {
  f <- as.formula(cs[[2]])
  w <- if (is.null(cs[[3]])) NULL else x[[cs[[3]]]]
  reml <- cs[[4]]
  fit0 <- mmrm(f, data = x, weights = w, reml = reml)
  for (cm in cs[[5]]) {
    case <- paste(cs[[1]], cm[1], cm[2], sep = "|")
    fit <- mmrm(f, data = x, weights = w, reml = reml, method = cm[1], vcov = cm[2],
                start = fit0$theta_est)
    # Type III tests with Satterthwaite df and an empirical covariance: R minutes each
    out[[case]] <- tables(fit, case, anova = !(cm[1] == "Satterthwaite" && grepl("Empirical", cm[2])))
    cat(case, "\n")
  }
}
write.csv(do.call(rbind, out), sprintf("reference_%s.csv", part), row.names = FALSE, na = "",
          fileEncoding = "UTF-8")
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
