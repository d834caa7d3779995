# Independent R reference for covariate-adjusted marginal response effects (g-computation
# under a logistic working model), run in this folder:
#   Rscript make_reference.R
# The oracle is R package beeca (get_marginal_effect; see README.md for version and commit).
# This script only prepares data, calls beeca and writes its results; it does not re-implement
# beeca. Inputs: beeca's shipped data (trial01 and the two SAS result data sets), the project's
# synthetic_trial.csv (../response), the external DIA antidepressant trial
# (../../../../shared/data/external) and two data sets simulated below with fixed seeds.
suppressMessages({
  library(beeca)
  library(dplyr)
})
ext <- "../../../../shared/data/external"
tight <- glm.control(epsilon = 1e-14, maxit = 100)
contrasts <- c("diff", "rr", "or", "logrr", "logor")
wcsv <- function(x, f) write.csv(x, f, row.names = FALSE, na = "")

# ---- calling beeca ---------------------------------------------------------------------------
# One working model `fit` (a glm whose treatment column `trt` is a factor), one variance method,
# optional strata, one reference arm: every contrast for every other arm vs the reference, and
# the arm-specific counterfactual risks with their variance-covariance matrix.
# method: "ge" (Ge et al. 2011, sandwich HC0), "ge_model_based" (Ge with the model-based glm
# covariance, as in the SAS macros), "ye" (Ye et al. 2023, beeca's default mod = FALSE).
run_beeca <- function(fit, trt, ref, method, strata = NULL) {
  bmethod <- if (method == "ye") "Ye" else "Ge"
  type <- if (method == "ge_model_based") "model-based" else "HC0"
  lv <- levels(fit$model[[trt]])
  eff <- NULL
  for (ct in contrasts) {
    m <- get_marginal_effect(fit, trt = trt, strata = strata, method = bmethod, type = type,
                             contrast = ct, reference = ref)
    # with one reference arm beeca returns the comparisons in factor-level order of the
    # non-reference arms; the estimate is re-derived from the risks as a check of that order
    arms <- setdiff(lv, ref)
    stopifnot(length(m$marginal_est) == length(arms))
    p <- m$counterfactual.means
    chk <- switch(ct, diff = p[arms] - p[ref], rr = p[arms] / p[ref],
                  or = (p[arms] / (1 - p[arms])) / (p[ref] / (1 - p[ref])),
                  logrr = log(p[arms] / p[ref]),
                  logor = log((p[arms] / (1 - p[arms])) / (p[ref] / (1 - p[ref]))))
    stopifnot(isTRUE(all.equal(as.numeric(chk), as.numeric(m$marginal_est), tolerance = 1e-12)))
    eff <- rbind(eff, data.frame(method = method, contrast = ct, arm = arms, reference = ref,
                                 estimate = as.numeric(m$marginal_est), se = as.numeric(m$marginal_se)))
  }
  V <- m$robust_varcov
  risks <- data.frame(method = method, arm = lv, risk = unname(m$counterfactual.means[lv]),
                      se = sqrt(diag(V))[lv])
  vc <- expand.grid(arm2 = lv, arm = lv, stringsAsFactors = FALSE)[, c("arm", "arm2")]
  vc$cov <- V[cbind(vc$arm, vc$arm2)]
  vc <- cbind(method = method, vc)
  # delta-method identities beeca satisfies: se(rr) = rr * se(log rr), se(or) = or * se(log or)
  for (pr in list(c("rr", "logrr"), c("or", "logor"))) {
    a <- eff[eff$contrast == pr[1], ]; b <- eff[eff$contrast == pr[2], ]
    stopifnot(isTRUE(all.equal(a$se, a$estimate * b$se, tolerance = 1e-10)))
  }
  list(eff = eff, risks = risks, vcov = vc)
}

# fit a glm, recording warnings and convergence instead of stopping
fit_glm <- function(formula, data, control) {
  w <- character()
  fit <- withCallingHandlers(glm(formula, family = binomial, data = data, control = control),
                             warning = function(e) { w <<- c(w, conditionMessage(e)); invokeRestart("muffleWarning") })
  list(fit = fit, warnings = unique(w))
}

# run several methods on one model; beeca warnings (none expected) are recorded, not hidden
run_set <- function(fit, trt, ref, methods, strata = NULL) {
  out <- list(eff = NULL, risks = NULL, vcov = NULL); w <- character()
  for (me in methods) {
    r <- withCallingHandlers(run_beeca(fit, trt, ref, me, if (me == "ye") strata else NULL),
                             warning = function(e) { w <<- c(w, conditionMessage(e)); invokeRestart("muffleWarning") })
    for (k in names(out)) out[[k]] <- rbind(out[[k]], r[[k]])
  }
  out$warnings <- unique(w)
  out
}

tag <- function(x, ...) { a <- list(...); cbind(as.data.frame(a, stringsAsFactors = FALSE), x) }
all_risks <- NULL; all_vcov <- NULL

# ---- 1. beeca's trial01 and the SAS results shipped with beeca -------------------------------
# trial01: beeca data/trial01.rda (= beeca inst/extdata/sim_trial_01.csv), simulated, LGPL-3.
wcsv(as.data.frame(lapply(trial01, as.vector)), "trial01.csv")
wcsv(as.data.frame(lapply(margins_trial01, as.vector)), "sas_margins_trial01.csv")
wcsv(as.data.frame(lapply(ge_macro_trial01, as.vector)), "sas_ge_macro_trial01.csv")

t01 <- as.data.frame(trial01)
t01$trtp <- factor(t01$trtp)
t01_eff <- NULL
models <- list(
  # the model of beeca's examples and of both SAS results: aval ~ trtp + bl_cov, complete cases
  list(cov = "bl_cov", f = aval ~ trtp + bl_cov, strata = NULL,
       methods = c("ge", "ge_model_based", "ye")),
  # beeca's stratified example (estimate_varcov help): aval ~ trtp + bl_cov_c, strata bl_cov_c
  list(cov = "bl_cov_c", f = aval ~ trtp + bl_cov_c, strata = NULL, methods = c("ge", "ye")),
  list(cov = "bl_cov_c", f = aval ~ trtp + bl_cov_c, strata = "bl_cov_c", methods = "ye"))
for (md in models) {
  d <- t01[complete.cases(t01[, all.vars(md$f)]), ]
  for (g in c("tight", "default")) {
    ft <- fit_glm(md$f, d, if (g == "tight") tight else glm.control())
    stopifnot(ft$fit$converged, length(ft$warnings) == 0)
    r <- run_set(ft$fit, "trtp", "0", md$methods, md$strata)
    stopifnot(length(r$warnings) == 0)
    st <- if (is.null(md$strata)) "" else md$strata
    t01_eff <- rbind(t01_eff, tag(r$eff, dataset = "trial01", model = deparse(md$f), covariates = md$cov,
                                  strata = st, glm = g, n = nrow(d)))
    all_risks <- rbind(all_risks, tag(r$risks, dataset = "trial01", covariates = md$cov, strata = st, glm = g))
    all_vcov <- rbind(all_vcov, tag(r$vcov, dataset = "trial01", covariates = md$cov, strata = st, glm = g))
  }
}
wcsv(t01_eff, "trial01_effects.csv")

# ---- 2. a simulated 3-arm binary trial -------------------------------------------------------
# 300 subjects; stratified permuted blocks of 6 within `stratum`; numeric `age`, 3-level factor
# `region`, 2-level factor `stratum`. Arm names chosen so that the reference "Placebo" is the
# LAST factor level (alphabetical), which exercises beeca's ordering of comparisons.
set.seed(20240611)
n <- 300
arms3 <- c("Placebo", "Drug A", "Drug B")
tri <- data.frame(subject_id = sprintf("P%03d", 1:n),
                  stratum = sample(c("S1", "S2"), n, replace = TRUE, prob = c(0.55, 0.45)),
                  region = sample(c("North", "South", "West"), n, replace = TRUE),
                  age = round(rnorm(n, 50, 10), 1))
tri$arm <- NA_character_
for (s in unique(tri$stratum)) {
  ix <- which(tri$stratum == s)
  nb <- ceiling(length(ix) / 6)
  tri$arm[ix] <- unlist(lapply(1:nb, function(b) sample(rep(arms3, 2))))[seq_along(ix)]
}
lp <- -0.6 + 0.5 * (tri$arm == "Drug A") + 1.0 * (tri$arm == "Drug B") + 0.04 * (tri$age - 50) +
  c(North = 0, South = 0.4, West = -0.3)[tri$region] + 0.5 * (tri$stratum == "S2")
tri$response <- rbinom(n, 1, plogis(lp))
tri <- tri[, c("subject_id", "arm", "response", "age", "region", "stratum")]
wcsv(tri, "three_arm.csv")

d3 <- tri
d3$arm <- factor(d3$arm); d3$region <- factor(d3$region); d3$stratum <- factor(d3$stratum)
ft <- fit_glm(response ~ arm + age + region + stratum, d3, tight)
stopifnot(ft$fit$converged, length(ft$warnings) == 0)
tri_eff <- NULL
for (ref in c("Placebo", "Drug A")) {
  for (st in list(NULL, "stratum", c("stratum", "region"))) {
    r <- run_set(ft$fit, "arm", ref, if (is.null(st)) c("ge", "ye") else "ye", st)
    stopifnot(length(r$warnings) == 0)
    sts <- paste(st, collapse = "+")
    tri_eff <- rbind(tri_eff, tag(r$eff, dataset = "three_arm", model = "response ~ arm + age + region + stratum",
                                  covariates = "age+region+stratum", strata = sts, glm = "tight", n = n))
    if (ref == "Placebo") {
      all_risks <- rbind(all_risks, tag(r$risks, dataset = "three_arm", covariates = "age+region+stratum", strata = sts, glm = "tight"))
      all_vcov <- rbind(all_vcov, tag(r$vcov, dataset = "three_arm", covariates = "age+region+stratum", strata = sts, glm = "tight"))
    }
  }
}
wcsv(tri_eff, "three_arm_effects.csv")
rownames(all_risks) <- NULL
wcsv(all_risks, "risks.csv")
wcsv(all_vcov, "risks_vcov.csv")

# ---- 3. score files: response derived from raw scores, then beeca per visit and rule ---------
# missing-data rules: the project's own R code, copied unchanged from
# ../response/make_reference.R (function `outcomes`); only `responder` is used here.
outcomes <- function(d, rule) {
  # d: subject, arm, visit, score, base (post-baseline rows only, base NA = no baseline)
  d <- d[!is.na(d$base), ]
  subj <- unique(d[, c("subject", "arm", "base")])
  visits <- sort(unique(d$visit))
  if (rule == "observed") {
    o <- d[!is.na(d$score), ]
    o$used <- o$score
  } else {
    o <- merge(subj, data.frame(visit = visits))
    o <- merge(o, d[, c("subject", "visit", "score")], by = c("subject", "visit"), all.x = TRUE)
    o <- o[order(o$subject, o$visit), ]
    if (rule == "nri") {
      o$used <- o$score
    } else {
      o$used <- ave(o$score, o$subject, FUN = function(s) {
        out <- s; last <- NA
        for (i in seq_along(s)) { if (!is.na(s[i])) last <- s[i]; out[i] <- last }
        out
      })
      o$used[is.na(o$used)] <- o$base[is.na(o$used)]
    }
  }
  o$responder <- !is.na(o$used) & (o$base - o$used) / o$base >= 0.5
  o$remitter <- !is.na(o$used) & o$used <= 7
  o
}

# d: long post-baseline rows (subject, arm, visit, score, base); subj: one row per subject with
# its covariate columns; specs: list of (covariates, strata, methods)
analyse_scores <- function(name, d, subj, ref, specs) {
  out <- NULL
  arm_levels <- c(ref, setdiff(unique(d$arm), ref))
  for (rule in c("observed", "nri", "locf")) {
    o <- outcomes(d, rule)
    for (v in sort(unique(o$visit))) {
      x <- merge(o[o$visit == v, c("subject", "arm", "base", "responder")], subj, by = "subject", all.x = TRUE)
      x$response <- as.numeric(x$responder)
      x$baseline <- x$base
      x$arm <- factor(x$arm, levels = arm_levels)
      for (cn in setdiff(names(subj), "subject")) x[[cn]] <- factor(x[[cn]])
      ev <- tapply(x$response, x$arm, sum); na <- tapply(x$response, x$arm, length)
      for (sp in specs) {
        covs <- strsplit(sp$covariates, "+", fixed = TRUE)[[1]]
        f <- reformulate(c("arm", covs), "response")
        status <- character()
        if (any(ev == 0)) status <- c(status, paste0("separation: no responders in ", paste(names(ev)[ev == 0], collapse = ", ")))
        if (any(ev == na)) status <- c(status, paste0("separation: all responders in ", paste(names(ev)[ev == na], collapse = ", ")))
        ft <- fit_glm(f, x, tight)
        if (!ft$fit$converged) status <- c(status, "glm not converged (maxit 100, epsilon 1e-14)")
        if (length(ft$warnings)) status <- c(status, paste("glm warning:", ft$warnings))
        fit <- ft$fit
        note <- ""
        if (sp$strata != "" && !all(sp$strata %in% covs)) {
          # beeca takes strata from the model frame; a stratum that is not a model covariate is
          # appended to the fitted model's frame (no refit; the working model is unchanged)
          for (s in sp$strata) fit$model[[s]] <- x[[s]]
          note <- "strata not in model: stratum column appended to glm model frame"
        }
        meths <- if (sp$strata == "") c("ge", "ye") else "ye"
        rows <- expand.grid(contrast = contrasts, arm = setdiff(arm_levels, ref), stringsAsFactors = FALSE)
        base_row <- data.frame(dataset = name, rule = rule, visit = v, covariates = sp$covariates,
                               strata = sp$strata, n = nrow(x))
        for (me in meths) {
          if (length(status)) {
            e <- data.frame(method = me, contrast = rows$contrast, arm = rows$arm, reference = ref,
                            estimate = NA, se = NA, risk_arm = NA, risk_reference = NA)
          } else {
            r <- run_set(fit, "arm", ref, me, if (sp$strata == "") NULL else strsplit(sp$strata, "+", fixed = TRUE)[[1]])
            stopifnot(length(r$warnings) == 0)
            e <- r$eff
            p <- setNames(r$risks$risk, r$risks$arm)
            e$risk_arm <- p[e$arm]; e$risk_reference <- p[ref]
          }
          e$n_arm <- as.integer(na[e$arm]); e$n_reference <- as.integer(na[ref])
          e$events_arm <- as.integer(ev[e$arm]); e$events_reference <- as.integer(ev[ref])
          e$status <- if (length(status)) paste(status, collapse = "; ") else "ok"
          e$note <- note
          out <- rbind(out, cbind(base_row, e))
        }
      }
    }
  }
  out
}

# (a) the project's synthetic trial (ipt-outcomes simulate --seed 2016 snapshot)
s <- read.csv("../response/synthetic_trial.csv", check.names = FALSE)
b <- s[s$visit == 0, c("subject_id", "hamd17")]; names(b) <- c("subject", "base")
ds <- merge(data.frame(subject = s$subject_id, arm = s$arm, visit = s$visit, score = s$hamd17)[s$visit > 0, ], b, all.x = TRUE)
ss <- unique(data.frame(subject = s$subject_id, sex = s$sex))
res_a <- analyse_scores("synthetic", ds, ss, "TAU",
                        list(list(covariates = "baseline", strata = ""),
                             list(covariates = "baseline+sex", strata = "")))

# (b) DIA antidepressant trial (baseline = BASVAL; visits 4-7, missing visits are absent rows)
a <- read.csv(file.path(ext, "antidepressant_dia.csv"))
da <- data.frame(subject = a$PATIENT, arm = a$THERAPY, visit = a$VISIT, score = a$HAMDTL17, base = a$BASVAL)
sa <- unique(data.frame(subject = a$PATIENT, GENDER = a$GENDER))
res_b <- analyse_scores("dia", da, sa, "PLACEBO",
                        list(list(covariates = "baseline", strata = ""),
                             list(covariates = "baseline+GENDER", strata = "")))

# (c) a simulated 3-arm score file: weeks 0, 4, 8; site stratifies the randomisation
set.seed(20240612)
ns <- 210
sites <- c("Site 1", "Site 2", "Site 3")
subj <- data.frame(subject_id = sprintf("T%03d", 1:ns),
                   site = sample(sites, ns, replace = TRUE, prob = c(0.4, 0.35, 0.25)),
                   sex = sample(c("female", "male"), ns, replace = TRUE, prob = c(0.6, 0.4)))
arms_c <- c("Placebo", "Low dose", "High dose")
subj$arm <- NA_character_
for (st in sites) {            # permuted blocks of 3 within site
  ix <- which(subj$site == st)
  subj$arm[ix] <- unlist(lapply(1:ceiling(length(ix) / 3), function(k) sample(arms_c)))[seq_along(ix)]
}
subj$base <- pmin(52, pmax(14, round(rnorm(ns, 23, 4.5))))
eff_c <- c(Placebo = 0, "Low dose" = 0.08, "High dose" = 0.16)[subj$arm]
site_c <- c("Site 1" = 0, "Site 2" = 0.05, "Site 3" = -0.05)[subj$site]
improve <- function(week) {   # fractional improvement from baseline
  m <- (0.22 + eff_c + site_c) * c("4" = 0.7, "8" = 1)[as.character(week)]
  m + rnorm(ns, 0, 0.22)
}
u <- runif(ns)
drop4 <- u < 0.08                          # no follow-up at all
drop8 <- !drop4 & u < 0.20                 # week 4 seen, week 8 missing
skip4 <- !drop4 & !drop8 & runif(ns) < 0.05  # intermittent: week 4 missing, week 8 seen
long <- NULL
for (wk in c(0, 4, 8)) {
  sc <- if (wk == 0) subj$base else pmin(52, pmax(0, round(subj$base * (1 - improve(wk)))))
  if (wk == 4) sc[drop4 | skip4] <- NA
  if (wk == 8) sc[drop4 | drop8] <- NA
  long <- rbind(long, data.frame(subject_id = subj$subject_id, arm = subj$arm, visit = wk,
                                 hamd17 = sc, site = subj$site, sex = subj$sex))
}
long <- long[order(long$subject_id, long$visit), ]
wcsv(long, "three_arm_scores.csv")

t3 <- read.csv("three_arm_scores.csv")
b <- t3[t3$visit == 0, c("subject_id", "hamd17")]; names(b) <- c("subject", "base")
dt <- merge(data.frame(subject = t3$subject_id, arm = t3$arm, visit = t3$visit, score = t3$hamd17)[t3$visit > 0, ], b, all.x = TRUE)
st3 <- unique(data.frame(subject = t3$subject_id, site = t3$site, sex = t3$sex))
res_c <- analyse_scores("three_arm_scores", dt, st3, "Placebo",
                        list(list(covariates = "baseline", strata = ""),
                             list(covariates = "baseline+site", strata = ""),
                             list(covariates = "baseline+site", strata = "site"),
                             list(covariates = "baseline", strata = "site")))

# (d) Riesby et al. (Hedeker & Gibbons) depression data, weeks 1-5, reference endog = 0: added
# because week 1 has no responders in either arm, i.e. a cell that must be reported as not
# estimable (separation); the other weeks are ordinary cells.
r <- read.csv(file.path(ext, "riesby.csv"))
b <- r[r$week == 0, c("id", "hamd")]; names(b) <- c("subject", "base")
dr <- merge(data.frame(subject = r$id, arm = as.character(r$endog), visit = r$week, score = r$hamd)[r$week > 0, ], b, all.x = TRUE)
res_d <- analyse_scores("riesby", dr, data.frame(subject = unique(r$id)), "0",
                        list(list(covariates = "baseline", strata = "")))

res <- rbind(res_a, res_b, res_c, res_d)
wcsv(res, "scores_adjusted.csv")
cat("scores_adjusted.csv:", nrow(res), "rows;", sum(res$status != "ok"), "rows not ok\n")
print(unique(res[res$status != "ok", c("dataset", "rule", "visit", "covariates", "status")]))

# checks printed for the README: beeca vs the SAS results (same model, model-based covariance)
m <- t01_eff[t01_eff$covariates == "bl_cov" & t01_eff$method == "ge_model_based" & t01_eff$contrast == "diff", ]
for (g in c("tight", "default")) {
  r <- m[m$glm == g, ]
  cat(sprintf("trial01 %s glm: beeca diff %.10f se %.10f | %%Margins %.10f %.10f | Ge macro %.10f %.10f\n", g,
              r$estimate, r$se, margins_trial01$Estimate, margins_trial01$StdErr, ge_macro_trial01$diff, ge_macro_trial01$se))
}
k <- c("method", "contrast", "arm", "reference", "covariates", "strata")
x <- merge(t01_eff[t01_eff$glm == "tight", c(k, "estimate", "se")], t01_eff[t01_eff$glm == "default", c(k, "estimate", "se")], by = k)
cat(sprintf("trial01 tight vs default glm: max |d estimate| %.2e, max |d se| %.2e\n",
            max(abs(x$estimate.x - x$estimate.y)), max(abs(x$se.x - x$se.y))))
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
