# Reference MMRM results from R's mmrm package for the public data in ../../../../shared/data/external.
# Model (as in SPEC.md): change from baseline ~ visit + arm:visit + baseline:visit, unstructured
# covariance within subject, REML; degrees of freedom by Kenward-Roger (vcov "Kenward-Roger-Linear",
# the form that matches SAS PROC MIXED DDFM=KR) and by Satterthwaite; LS means and arm - reference
# contrasts per visit from emmeans (baseline at its mean over the analysed rows).
# Run in this folder: Rscript make_reference.R   (R 4.2.2, mmrm 0.3.x built from source, emmeans 1.8.4)
suppressMessages({library(mmrm); library(emmeans)})
ext <- "../../../../shared/data/external"

run <- function(x, ref, name) {
  x <- x[!is.na(x$score) & !is.na(x$base), ]
  x$chg <- x$score - x$base
  x$visit <- factor(x$visit, levels = sort(unique(x$visit)))
  x$arm <- relevel(factor(x$arm), ref); x$subject <- factor(x$subject)
  for (m in c("kr", "satterthwaite")) {
    fit <- if (m == "kr") mmrm(chg ~ visit + arm:visit + base:visit + us(visit | subject), data = x,
                               method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")
           else mmrm(chg ~ visit + arm:visit + base:visit + us(visit | subject), data = x, method = "Satterthwaite")
    em <- emmeans(fit, ~ arm | visit)
    ls <- as.data.frame(summary(em))
    write.csv(data.frame(arm = ls$arm, visit = ls$visit, estimate = ls$emmean, se = ls$SE, df = ls$df,
                         ci_low = ls$lower.CL, ci_high = ls$upper.CL),
              sprintf("%s_lsmeans_%s.csv", name, m), row.names = FALSE)
    ct <- as.data.frame(summary(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"), infer = c(TRUE, TRUE)))
    write.csv(data.frame(arm = setdiff(levels(x$arm), ref), reference = ref, visit = ct$visit,
                         estimate = ct$estimate, se = ct$SE, df = ct$df, t = ct$t.ratio, p = ct$p.value,
                         ci_low = ct$lower.CL, ci_high = ct$upper.CL),
              sprintf("%s_contrasts_%s.csv", name, m), row.names = FALSE)
  }
  write.csv(data.frame(neg2_reml_loglik = -2 * as.numeric(logLik(fit)), n_subjects = nlevels(x$subject), n_obs = nrow(x)),
            sprintf("%s_fit.csv", name), row.names = FALSE)
}

b <- read.csv(file.path(ext, "btheb_long.csv"))
run(data.frame(subject = b$subject, arm = b$treatment, visit = b$time, score = b$bdi, base = b$bdi.pre), "TAU", "btheb")

cl <- read.csv(file.path(ext, "claus_2020.csv"))
base <- cl[cl$time == 1, c("id", "hamd")]; names(base)[2] <- "base"
cl <- merge(cl[cl$time != 1, ], base, by = "id")
run(data.frame(subject = cl$id, arm = cl$treatment, visit = cl$time, score = cl$hamd, base = cl$base), "TAU", "claus_2020")

r <- read.csv(file.path(ext, "riesby.csv"))
base <- r[r$week == 0, c("id", "hamd")]; names(base)[2] <- "base"
r <- merge(r[r$week != 0, ], base, by = "id")
run(data.frame(subject = r$id, arm = ifelse(r$endog == 1, "endogenous", "non-endogenous"), visit = r$week,
               score = r$hamd, base = r$base), "non-endogenous", "riesby")
