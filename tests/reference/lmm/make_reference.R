# R reference for ipt_outcomes.lmm (issue 5). Run here: Rscript make_reference.R
# R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, sandwich (sessionInfo.txt).
# Input: ../response/synthetic_trial.csv (a fixed snapshot of `ipt-outcomes simulate --seed 2016`).
# 1. hamd17 ~ arm * visit (visit numeric, months) on every observed row, baseline included, with a
#    random intercept, or intercept and slope, per subject; ML and REML. Fixed effects with
#    Satterthwaite df (lmerTest), variance components, log-likelihood.
# 2. Partially nested model (Roberts & Roberts 2005; Baldwin et al. 2011) on post-baseline rows:
#    hamd17 ~ baseline + arm * visit + (1 | subject) + (0 + pegt | tgroup): PeGT patients share a
#    therapy-group random intercept, other arms do not (tgroup = the therapy group in PeGT and the
#    subject's own id elsewhere, where pegt = 0). REML; and the same model without the group term.
# 3. ANCOVA of HAM-D at 3 and 12 months on baseline and arm, HC3 robust SEs (sandwich::vcovHC);
#    Hedges' g of each arm vs TAU at 3 and 12 months (observed scores; pooled SD, small-sample
#    correction J = 1 - 3 / (4 (n1 + n2) - 9), variance (n1 + n2) / (n1 n2) + g^2 / (2 (n1 + n2))).
# 4. The external models of riesby.md and btheb.md (cross-check of the published values).
suppressMessages({library(lme4); library(lmerTest); library(sandwich)})
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), check.conv.singular = "ignore")

tidy_fixed <- function(m, label) {
  co <- summary(m)$coefficients
  df <- if ("df" %in% colnames(co)) co[, "df"] else NA
  q <- qt(0.975, df)
  data.frame(model = label, term = rownames(co), estimate = co[, "Estimate"], se = co[, "Std. Error"],
             df = df, t = co[, "t value"], p = if ("Pr(>|t|)" %in% colnames(co)) co[, "Pr(>|t|)"] else NA,
             ci_low = co[, "Estimate"] - q * co[, "Std. Error"], ci_high = co[, "Estimate"] + q * co[, "Std. Error"])
}
tidy_fit <- function(m, label) {
  vc <- as.data.frame(VarCorr(m))
  get <- function(grp, v1, v2 = NULL) {
    second <- if (is.null(v2)) is.na(vc$var2) else vc$var2 %in% v2
    r <- vc[vc$grp == grp & vc$var1 %in% v1 & second, "vcov"]
    if (length(r)) r[1] else NA
  }
  data.frame(model = label, loglik = as.numeric(logLik(m)), reml = isREML(m),
             var_intercept = get("subject", "(Intercept)"), var_slope = get("subject", c("visit", "week", "time")),
             cov_intercept_slope = get("subject", "(Intercept)", c("visit", "week", "time")),
             var_group = get("tgroup", "pegt"), var_residual = get("Residual", NA_character_),
             n_obs = nobs(m), n_subjects = ngrps(m)[["subject"]])
}

# ---- 1-2: the synthetic trial -----------------------------------------------------------------
s <- read.csv("../response/synthetic_trial.csv")
s <- s[!is.na(s$hamd17), ]
s$arm <- relevel(factor(s$arm), "TAU"); s$subject <- factor(s$subject_id)
fixed <- NULL; fits <- NULL
for (reml in c(TRUE, FALSE)) for (slope in c(FALSE, TRUE)) {
  f <- if (slope) hamd17 ~ arm * visit + (visit | subject) else hamd17 ~ arm * visit + (1 | subject)
  label <- sprintf("synthetic_%s_%s", if (slope) "slope" else "intercept", if (reml) "reml" else "ml")
  m <- lmer(f, data = s, REML = reml, control = ctl)
  fixed <- rbind(fixed, tidy_fixed(m, label)); fits <- rbind(fits, tidy_fit(m, label))
}
# partially nested: post-baseline rows with baseline as covariate (therapy groups start after
# randomisation), with and without the therapy-group random intercept in PeGT
b0 <- s[s$visit == 0, c("subject_id", "hamd17")]; names(b0)[2] <- "baseline"
post <- merge(s[s$visit > 0, ], b0, by = "subject_id")
post$pegt <- as.numeric(post$arm == "PeGT")
post$tgroup <- factor(ifelse(post$arm == "PeGT", paste0("group_", post$therapy_group), paste0("self_", post$subject_id)))
m <- lmer(hamd17 ~ baseline + arm * visit + (1 | subject) + (0 + pegt | tgroup), data = post, REML = TRUE, control = ctl)
fixed <- rbind(fixed, tidy_fixed(m, "synthetic_nested_reml")); fits <- rbind(fits, tidy_fit(m, "synthetic_nested_reml"))
m <- lmer(hamd17 ~ baseline + arm * visit + (1 | subject), data = post, REML = TRUE, control = ctl)
fixed <- rbind(fixed, tidy_fixed(m, "synthetic_notnested_reml")); fits <- rbind(fits, tidy_fit(m, "synthetic_notnested_reml"))

# ---- 3: ANCOVA with HC3 and Hedges' g ------------------------------------------------------------
base <- s[s$visit == 0, c("subject_id", "hamd17")]; names(base)[2] <- "baseline"
anc <- NULL; hg <- NULL
for (v in c(3, 12)) {
  d <- merge(s[s$visit == v, ], base, by = "subject_id")
  fit <- lm(hamd17 ~ baseline + arm, data = d)
  V <- vcovHC(fit, type = "HC3"); b <- coef(fit); se <- sqrt(diag(V)); dfr <- df.residual(fit)
  for (a in setdiff(levels(d$arm), "TAU")) {
    nm <- paste0("arm", a); tt <- b[nm] / se[nm]
    anc <- rbind(anc, data.frame(arm = a, reference = "TAU", visit = v, estimate = b[nm], se = se[nm], df = dfr,
                                 t = tt, p = 2 * pt(-abs(tt), dfr), ci_low = b[nm] - qt(0.975, dfr) * se[nm],
                                 ci_high = b[nm] + qt(0.975, dfr) * se[nm], n = nrow(d)))
    x1 <- d$hamd17[d$arm == a]; x2 <- d$hamd17[d$arm == "TAU"]; n1 <- length(x1); n2 <- length(x2)
    sp <- sqrt(((n1 - 1) * var(x1) + (n2 - 1) * var(x2)) / (n1 + n2 - 2))
    g <- (1 - 3 / (4 * (n1 + n2) - 9)) * (mean(x1) - mean(x2)) / sp
    vg <- (n1 + n2) / (n1 * n2) + g^2 / (2 * (n1 + n2))
    hg <- rbind(hg, data.frame(arm = a, reference = "TAU", visit = v, g = g, se = sqrt(vg),
                               ci_low = g - qnorm(0.975) * sqrt(vg), ci_high = g + qnorm(0.975) * sqrt(vg), n = n1, n_reference = n2))
  }
}

# ---- 4: external models ---------------------------------------------------------------------------
r <- read.csv("../../../../shared/data/external/riesby.csv"); r <- r[!is.na(r$hamd), ]; r$subject <- factor(r$id)
for (spec in list(list("riesby_slope_ml", hamd ~ week + (week | subject), FALSE),
                  list("riesby_intercept_reml", hamd ~ week + (1 | subject), TRUE),
                  list("riesby_slope_reml", hamd ~ week + (week | subject), TRUE),
                  list("riesby_quadratic_ml", hamd ~ week + I(week^2) + (week + I(week^2) | subject), FALSE))) {
  m <- lmer(spec[[2]], data = r, REML = spec[[3]], control = ctl)
  fixed <- rbind(fixed, tidy_fixed(m, spec[[1]])); fits <- rbind(fits, tidy_fit(m, spec[[1]]))
}
b <- read.csv("../../../../shared/data/external/btheb_long.csv"); b <- b[!is.na(b$bdi), ]; b$subject <- factor(b$subject)
b$treatment <- relevel(factor(b$treatment), "TAU"); b$drug <- relevel(factor(b$drug), "No"); b$length <- relevel(factor(b$length), "<6m")
m <- lmer(bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject), data = b, REML = FALSE, control = ctl)
fixed <- rbind(fixed, tidy_fixed(m, "btheb_intercept_ml")); fits <- rbind(fits, tidy_fit(m, "btheb_intercept_ml"))
m <- lmer(bdi ~ bdi.pre + time + treatment + drug + length + (time | subject), data = b, REML = FALSE, control = ctl)
fits <- rbind(fits, tidy_fit(m, "btheb_slope_ml"))

write.csv(fixed, "lmm_fixed_reference.csv", row.names = FALSE)
write.csv(fits, "lmm_fit_reference.csv", row.names = FALSE)
write.csv(anc, "ancova_hc3_reference.csv", row.names = FALSE)
write.csv(hg, "hedges_g_reference.csv", row.names = FALSE)
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
