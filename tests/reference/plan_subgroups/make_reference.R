# Independent reference for the subgroup analyses of ANCOVA and response endpoints, and for the
# ANCOVA endpoint with HC3 standard errors (ipt_outcomes.plan.subgroups, models.ancova.fit_ancova),
# on the plan reference trial (../plan/plan_trial.csv), full analysis set (FASFL = Y), week 12
# (AVISITN 4), observed cases, no intercurrent events removed (treatment policy). Per-level
# differences are unadjusted (emmeans adjust = "none"; subgroup p-values are nominal).
#   ANCOVA:   lm(chg ~ TRT01P * SEX + base + REGION); per-level differences from emmeans
#             (~ TRT01P | SEX, trt.vs.ctrl); the interaction F = anova(lm without TRT01P:SEX, lm).
#   HC3:      lm(chg ~ TRT01P + base + REGION) with sandwich::vcovHC(type = "HC3"), t on the
#             residual df; emmeans LS means with the same covariance.
#   Response: response = improvement >= 50%; per level the difference in proportions and Fisher's
#             exact p; the arm-by-SEX interaction by the likelihood-ratio test
#             anova(glm(resp ~ TRT01P + SEX), glm(resp ~ TRT01P * SEX), test = "LRT").
# Run from this folder: Rscript make_reference.R  (writes reference.csv, sessionInfo.txt)
suppressPackageStartupMessages({library(emmeans); library(sandwich)})
raw <- read.csv("../plan/plan_trial.csv", colClasses = c(USUBJID = "character"))
base <- raw[raw$AVISITN == 0, c("USUBJID", "AVAL")]; names(base)[2] <- "base"
d <- merge(raw[raw$AVISITN == 4 & !is.na(raw$AVAL) & raw$FASFL == "Y", ], base, by = "USUBJID")
d <- d[!is.na(d$base), ]
d$chg <- d$AVAL - d$base
d$TRT01P <- factor(d$TRT01P, levels = c("PBO", "LOW", "HIGH"))
d$SEX <- factor(d$SEX); d$REGION <- factor(d$REGION)
out <- list()
add <- function(analysis, level, arm, stat, value) {
  out[[length(out) + 1]] <<- data.frame(analysis = analysis, level = level, arm = arm,
                                        statistic = stat, value = value)
}
# ANCOVA with the arm-by-SEX interaction
fit <- lm(chg ~ TRT01P * SEX + base + REGION, data = d)
ct <- summary(contrast(emmeans(fit, ~ TRT01P | SEX), "trt.vs.ctrl"), infer = TRUE, adjust = "none")
for (i in seq_len(nrow(ct))) {
  arm <- sub(" - PBO", "", as.character(ct$contrast[i]))
  for (s in c("estimate", "SE", "df", "t.ratio", "p.value", "lower.CL", "upper.CL")) {
    add("ancova-subgroup", as.character(ct$SEX[i]), arm,
        c(estimate = "estimate", SE = "se", df = "df", t.ratio = "t", p.value = "p",
          lower.CL = "ci_low", upper.CL = "ci_high")[[s]], ct[[s]][i])
  }
}
a <- anova(lm(chg ~ TRT01P + SEX + base + REGION, data = d), fit)
add("ancova-subgroup", "", "", "interaction_f", a$F[2])
add("ancova-subgroup", "", "", "interaction_num_df", a$Df[2])
add("ancova-subgroup", "", "", "interaction_den_df", a$Res.Df[2])
add("ancova-subgroup", "", "", "interaction_p", a$`Pr(>F)`[2])
# ANCOVA with HC3 standard errors
fit3 <- lm(chg ~ TRT01P + base + REGION, data = d)
V <- vcovHC(fit3, type = "HC3")
for (arm in c("LOW", "HIGH")) {
  j <- paste0("TRT01P", arm)
  est <- coef(fit3)[[j]]; se <- sqrt(V[j, j]); df <- fit3$df.residual
  q <- qt(0.975, df)
  add("ancova-hc3", "", arm, "estimate", est); add("ancova-hc3", "", arm, "se", se)
  add("ancova-hc3", "", arm, "df", df); add("ancova-hc3", "", arm, "p", 2 * pt(-abs(est / se), df))
  add("ancova-hc3", "", arm, "ci_low", est - q * se); add("ancova-hc3", "", arm, "ci_high", est + q * se)
}
lsm <- summary(emmeans(fit3, ~ TRT01P, vcov. = V))
for (i in seq_len(nrow(lsm))) {
  add("ancova-hc3-lsmean", "", as.character(lsm$TRT01P[i]), "estimate", lsm$emmean[i])
  add("ancova-hc3-lsmean", "", as.character(lsm$TRT01P[i]), "se", lsm$SE[i])
}
# Response by SEX
d$resp <- as.numeric((d$base - d$AVAL) / d$base >= 0.5)
for (lev in levels(d$SEX)) {
  dl <- d[d$SEX == lev, ]
  for (arm in c("LOW", "HIGH")) {
    x <- sum(dl$resp[dl$TRT01P == arm]); n <- sum(dl$TRT01P == arm)
    xr <- sum(dl$resp[dl$TRT01P == "PBO"]); nr <- sum(dl$TRT01P == "PBO")
    add("response-subgroup", lev, arm, "estimate", x / n - xr / nr)
    add("response-subgroup", lev, arm, "p", fisher.test(matrix(c(x, n - x, xr, nr - xr), 2))$p.value)
  }
}
lr <- anova(glm(resp ~ TRT01P + SEX, binomial, data = d), glm(resp ~ TRT01P * SEX, binomial, data = d),
            test = "LRT")
add("response-subgroup", "", "", "interaction_f", lr$Deviance[2])
add("response-subgroup", "", "", "interaction_num_df", lr$Df[2])
add("response-subgroup", "", "", "interaction_p", lr$`Pr(>Chi)`[2])
write.csv(do.call(rbind, out), "reference.csv", row.names = FALSE)
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
