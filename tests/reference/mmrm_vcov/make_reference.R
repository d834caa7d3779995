# R mmrm references for every covariance of the fixed effects (vcov), df method, covariance
# structure and weights, on the simulated trials of make_data.py and on formulas.
# Run in this folder: Rscript make_reference.R [part ...]   (R, mmrm 0.3.18 built from source,
# emmeans; versions in sessionInfo.txt). Parts: trial2 trial4 trial3_adam formulas refused
# (default all; parts can run in parallel processes). Writes ref_<dataset>.csv (one long table per dataset) and
# ref_formulas.csv.
#
# Model of the command line (SPEC): chg ~ visit + arm:visit + base:visit + <structure>(visit |
# subject), sp_exp on the design's times; LS means and trt.vs.ctrl contrasts from emmeans
# (baseline at its mean over the analysed rows, other factors weighted equally); Type III tests
# from mmrm's own Anova method (mmrm:::Anova.mmrm: car 3.1.1 here is too old for mmrm to
# register it); -2 log-likelihood from logLik.
suppressMessages({library(mmrm); library(emmeans)})
emm_options(msg.nesting = FALSE)
parts <- commandArgs(trailingOnly = TRUE)
if (!length(parts)) parts <- c("trial2", "trial4", "trial3_adam", "formulas", "refused", "external")
options(warn = 1)

structures <- c("us", "toep", "toeph", "ar1", "ar1h", "ad", "adh", "cs", "csh", "sp_exp")
combos <- list(
  c("Kenward-Roger", "Kenward-Roger-Linear"), c("Kenward-Roger", "Kenward-Roger"),
  c("Satterthwaite", "Asymptotic"), c("Satterthwaite", "Empirical"),
  c("Satterthwaite", "Empirical-Bias-Reduced"), c("Satterthwaite", "Empirical-Jackknife"),
  c("Residual", "Asymptotic"), c("Residual", "Empirical"),
  c("Between-Within", "Asymptotic"), c("Between-Within", "Empirical-Jackknife")
)
cheap <- combos[c(1, 2, 3, 7, 9)]        # no empirical covariance
robust <- combos[c(4, 5, 6, 8, 10)]      # the empirical ones (R's Satterthwaite df for them is slow)
# which (structure, combination) cases each data set gets; R's empirical Satterthwaite df forms
# n_obs x (p n_subjects) matrices, so the empirical cases are run for a subset of structures
plan <- list(
  trial2 = list(all = c(cheap, robust), some = cheap,
                robust_structures = c("us", "toeph", "cs", "sp_exp", "adh")),
  trial4 = list(all = c(cheap, combos[c(5, 8)]), some = combos[1:3],
                robust_structures = c("us", "ar1h", "sp_exp")),
  trial3_adam = list(all = c(cheap, combos[c(4, 6, 10)]), some = combos[1:3],
                     robust_structures = c("us", "csh", "sp_exp"))
)
weighted_combos <- combos[c(1, 5, 7)]
weighted_structures <- c("us", "toep", "adh", "sp_exp")
# Type III tests with an empirical covariance and Satterthwaite df take R minutes: only for us
anova_wanted <- function(s, cm) !(cm[1] == "Satterthwaite" && grepl("Empirical", cm[2])) || s == "us"

tables <- function(fit, case, by = "visit", anova = TRUE) {
  em <- emmeans(fit, as.formula(paste("~ arm |", by)))
  ls <- as.data.frame(summary(em))
  ct <- as.data.frame(summary(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"),
                              infer = c(TRUE, TRUE)))
  ct_arm <- sub(" - .*$", "", as.character(ct$contrast))
  an <- if (anova) mmrm:::Anova.mmrm(fit, type = "III")
        else data.frame(Df = numeric(0), Res.Df = numeric(0), F = numeric(0), `Pr(>F)` = numeric(0),
                        check.names = FALSE)
  n <- nrow(ls) + nrow(ct) + nrow(an) + 1
  out <- data.frame(case = case, table = c(rep("lsmeans", nrow(ls)), rep("contrasts", nrow(ct)),
                                           rep("anova", nrow(an)), "fit"),
                    arm = c(as.character(ls$arm), ct_arm, rep(NA, nrow(an) + 1)),
                    visit = c(as.character(ls[[by]]), as.character(ct[[by]]), rep(NA, nrow(an) + 1)),
                    term = c(rep(NA, nrow(ls) + nrow(ct)), rownames(an), NA),
                    estimate = c(ls$emmean, ct$estimate, rep(NA, nrow(an) + 1)),
                    se = c(ls$SE, ct$SE, rep(NA, nrow(an) + 1)),
                    df = c(ls$df, ct$df, rep(NA, nrow(an) + 1)),
                    t = c(rep(NA, nrow(ls)), ct$t.ratio, rep(NA, nrow(an) + 1)),
                    p = c(rep(NA, nrow(ls)), ct$p.value, an[["Pr(>F)"]], NA),
                    ci_low = c(ls$lower.CL, ct$lower.CL, rep(NA, nrow(an) + 1)),
                    ci_high = c(ls$upper.CL, ct$upper.CL, rep(NA, nrow(an) + 1)),
                    num_df = c(rep(NA, nrow(ls) + nrow(ct)), an$Df, NA),
                    den_df = c(rep(NA, nrow(ls) + nrow(ct)), an$Res.Df, NA),
                    f = c(rep(NA, nrow(ls) + nrow(ct)), an$F, NA),
                    neg2_loglik = c(rep(NA, n - 1), -2 * as.numeric(logLik(fit))),
                    n_obs = c(rep(NA, n - 1), component(fit, "n_obs")),
                    message = NA)
  out
}

failed <- function(case, e) {
  data.frame(case = case, table = "error", arm = NA, visit = NA, term = NA, estimate = NA,
             se = NA, df = NA, t = NA, p = NA, ci_low = NA, ci_high = NA, num_df = NA,
             den_df = NA, f = NA, neg2_loglik = NA, n_obs = NA,
             message = gsub("[\r\n]+", " ", conditionMessage(e)))
}

run_all <- function(x, name) {
  out <- list()
  pl <- plan[[name]]
  for (s in structures) {
    where <- if (s == "sp_exp") "time" else "visit"
    f <- as.formula(sprintf("chg ~ visit + arm:visit + base:visit + %s(%s | subject)", s, where))
    for (weighted in c(FALSE, s %in% weighted_structures)) {
      w <- if (weighted) x$wt else NULL
      chosen <- if (weighted) weighted_combos
                else if (s %in% pl$robust_structures) pl$all else pl$some
      # one cold fit; each vcov / df method refits from its optimum (same model, fast)
      fit0 <- tryCatch(mmrm(f, data = x, weights = w), error = function(e) e)
      for (cm in chosen) {
        case <- paste(s, cm[1], cm[2], if (weighted) "weighted" else "unweighted", sep = "|")
        out[[case]] <- tryCatch({
          if (inherits(fit0, "error")) stop(fit0)
          fit <- mmrm(f, data = x, weights = w, method = cm[1], vcov = cm[2],
                      start = fit0$theta_est)
          tables(fit, case, anova = anova_wanted(s, cm))
        }, error = function(e) failed(case, e))
        cat(name, case, "\n")
      }
    }
  }
  write.csv(do.call(rbind, out), sprintf("ref_%s.csv", name), row.names = FALSE, na = "")
}

post <- function(x, ref) {
  x <- x[!is.na(x$score) & !is.na(x$base), ]
  x$chg <- x$score - x$base
  x$visit <- factor(x$visit, levels = sort(unique(x$visit)))
  x$arm <- relevel(factor(x$arm), ref)
  x$subject <- factor(x$subject)
  x
}

long_default <- function(path, ref) {
  d <- read.csv(path, check.names = FALSE)
  base <- d[d$visit == 0 & !is.na(d$hamd17), c("subject_id", "hamd17")]
  names(base) <- c("subject_id", "base")
  d <- merge(d[d$visit != 0, ], base, by = "subject_id")
  d$subject <- d$subject_id
  d$score <- d$hamd17
  d$time <- d$visit
  post(d, ref)
}

t2 <- long_default("trial2.csv", "TAU")
t2$sex <- factor(t2$sex)
if ("trial2" %in% parts) run_all(t2, "trial2")
t4 <- long_default("trial4.csv", "TAU")
if ("trial4" %in% parts) run_all(t4, "trial4")

a <- read.csv("trial3_adam.csv")
t3 <- data.frame(subject = a$USUBJID, arm = a$TRT01P, visit = a$AVISITN, score = a$AVAL,
                 base = a$BASE, SEX = factor(a$SEX), wt = a$WGT,
                 time = c(`20` = 1, `30` = 2, `40` = 4, `50` = 8, `60` = 12)[as.character(a$AVISITN)])
t3 <- post(t3, "PBO")
if ("trial3_adam" %in% parts) run_all(t3, "trial3_adam")

# --- formulas (the Python formula interface) ---------------------------------------------------
dd <- read.csv("days.csv")
dd$visit <- factor(dd$visit)
dd$arm <- factor(dd$arm)
dd$subject <- factor(dd$subject)
formulas <- list(
  list("trial2_interaction_sex", t2, chg ~ arm * visit + base * visit + sex + us(visit | subject), NULL),
  list("trial4_group_us", t4, chg ~ arm * visit + base + age + us(visit | arm / subject), NULL),
  list("trial4_group_ar1h", t4, chg ~ arm * visit + base:visit + ar1h(visit | arm / subject), NULL),
  list("trial3_sex_sp_exp", t3, chg ~ visit + arm:visit + base:visit + SEX + sp_exp(time | subject), NULL),
  list("trial3_toeph_weighted", t3, chg ~ arm * visit + base + SEX + toeph(visit | subject), "wt"),
  list("days_sp_exp", dd, y ~ arm * visit + base + sp_exp(day | subject), NULL),
  list("days_sp_exp_weighted", dd, y ~ arm * visit + base + sp_exp(day | subject), "wt")
)
fcombos <- combos[c(1, 2, 3, 5, 7, 9)]
out <- list()
for (fm in if ("formulas" %in% parts) formulas else list()) {
  x <- fm[[2]]
  w <- if (is.null(fm[[4]])) NULL else x[[fm[[4]]]]
  fit0 <- tryCatch(mmrm(fm[[3]], data = x, weights = w), error = function(e) e)
  for (cm in fcombos) {
    case <- paste(fm[[1]], cm[1], cm[2], sep = "|")
    out[[case]] <- tryCatch({
      if (inherits(fit0, "error")) stop(fit0)
      fit <- mmrm(fm[[3]], data = x, weights = w, method = cm[1], vcov = cm[2],
                  start = fit0$theta_est)
      tables(fit, case, anova = cm[2] != "Empirical-Bias-Reduced")
    }, error = function(e) failed(case, e))
    cat("formulas", case, "\n")
  }
}
if ("formulas" %in% parts) write.csv(do.call(rbind, out), "ref_formulas.csv", row.names = FALSE, na = "")

# --- refused combinations (R mmrm's own checks) ---------------------------------------------------
refused <- list(c("Satterthwaite", "Kenward-Roger"), c("Residual", "Kenward-Roger-Linear"),
                c("Kenward-Roger", "Empirical"), c("Kenward-Roger", "Asymptotic"),
                c("Between-Within", "Kenward-Roger"))
if ("refused" %in% parts) {
msgs <- sapply(refused, function(cm) tryCatch({
  mmrm_control(method = cm[1], vcov = cm[2]); "accepted"
}, error = function(e) conditionMessage(e)))
write.csv(data.frame(method = sapply(refused, `[`, 1), vcov = sapply(refused, `[`, 2),
                     message = msgs), "refused.csv", row.names = FALSE)
}

# --- the public trials of ../../../../shared/data/external (as ../mmrm_r/make_reference.R) ---------
if ("external" %in% parts) {
  ext <- file.path(Sys.getenv("IPT_SHARED", "../../../../shared"), "data", "external")
  prep <- function(x, ref) {
    x <- x[!is.na(x$score) & !is.na(x$base), ]
    x$chg <- x$score - x$base
    x$time <- as.numeric(x$visit)
    x$visit <- factor(x$visit, levels = sort(unique(x$visit)))
    x$arm <- relevel(factor(x$arm), ref)
    x$subject <- factor(x$subject)
    x
  }
  b <- read.csv(file.path(ext, "btheb_long.csv"))
  cl <- read.csv(file.path(ext, "claus_2020.csv"))
  cb <- cl[cl$time == 1, c("id", "hamd")]; names(cb)[2] <- "base"
  cl <- merge(cl[cl$time != 1, ], cb, by = "id")
  r <- read.csv(file.path(ext, "riesby.csv"))
  rb <- r[r$week == 0, c("id", "hamd")]; names(rb)[2] <- "base"
  r <- merge(r[r$week != 0, ], rb, by = "id")
  sets <- list(
    btheb = prep(data.frame(subject = b$subject, arm = b$treatment, visit = b$time, score = b$bdi,
                            base = b$bdi.pre), "TAU"),
    claus_2020 = prep(data.frame(subject = cl$id, arm = cl$treatment, visit = cl$time,
                                 score = cl$hamd, base = cl$base), "TAU"),
    riesby = prep(data.frame(subject = r$id, arm = ifelse(r$endog == 1, "endogenous", "non-endogenous"),
                             visit = r$week, score = r$hamd, base = r$base), "non-endogenous")
  )
  out <- list()
  for (name in names(sets)) {
    x <- sets[[name]]
    for (s in c("us", "toeph", "sp_exp")) {
      where <- if (s == "sp_exp") "time" else "visit"
      f <- as.formula(sprintf("chg ~ visit + arm:visit + base:visit + %s(%s | subject)", s, where))
      fit0 <- tryCatch(mmrm(f, data = x), error = function(e) e)
      for (cm in combos[c(1, 2, 4, 5, 6, 9)]) {
        case <- paste(name, s, cm[1], cm[2], sep = "|")
        out[[case]] <- tryCatch({
          if (inherits(fit0, "error")) stop(fit0)
          fit <- mmrm(f, data = x, method = cm[1], vcov = cm[2])  # small data: cold fits
          tables(fit, case)
        }, error = function(e) failed(case, e))
        cat("external", case, "\n")
      }
    }
  }
  write.csv(do.call(rbind, out), "ref_external.csv", row.names = FALSE, na = "")
}

writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
