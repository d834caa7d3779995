# Independent R reference for the plan-driven trial (issue 23's acceptance scenario).
#
# Run from this folder:  Rscript make_reference.R     (about 10 minutes on 2 busy cores)
# Needs R >= 4.2, mmrm 0.3.18, emmeans, beeca 0.2.0, rbmi 1.5.2, dplyr.
#
# Reads only plan_trial.csv and events.csv (written by make_trial.py) and computes every number
# of the analysis plans in plan_trial.toml (hypothetical strategy) and plan_trial_tp.toml
# (treatment-policy strategy) from the raw data, without the project. The data handling below is
# written from the SPEC ("The analysis plan"), not from the project's code. Output: one tidy CSV,
# reference_ard.csv, shaped like the project's ard.csv (plus a `design` column), and side files
# described in README.md.

suppressPackageStartupMessages({
    library(mmrm)
    library(emmeans)
    library(beeca)
    library(rbmi)
    library(dplyr)
})
options(warn = 1, stringsAsFactors = FALSE)

ARMS <- c("PBO", "LOW", "HIGH") # [[arms]] order; reference first
REF <- "PBO"
VISITS <- 1:4 # post-baseline visit codes (weeks 2, 4, 8, 12)
KEY <- 4 # the endpoints' visit
INSTRUMENT <- "MADRS"
ALPHA <- 0.05
Z <- qnorm(1 - ALPHA / 2)
TIGHT <- glm.control(epsilon = 1e-14, maxit = 100)
EXTERNAL <- Sys.getenv("IPT_EXTERNAL", "/work/shared/data/external") # for the convention check

write_out <- function(x, file) {
    write.csv(x, file, row.names = FALSE, na = "") # doubles with 15 significant digits
    cat(sprintf("wrote %-40s %5d rows\n", file, nrow(x)))
}
checks <- data.frame(check = character(0), value = character(0), note = character(0))
add_check <- function(check, value, note = "") {
    checks[nrow(checks) + 1, ] <<- list(check, as.character(value), note)
    cat(sprintf("CHECK %-60s %s\n", check, as.character(value)))
}

# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
raw <- read.csv("plan_trial.csv", colClasses = c(USUBJID = "character", TRT01P = "character",
                SEX = "character", REGION = "character", FASFL = "character", PPROTFL = "character"))
events <- read.csv("events.csv", colClasses = c(subject_id = "character"))
stopifnot(all(raw$TRT01P %in% ARMS), !anyDuplicated(events$subject_id))

# subject-level columns (constant within subject: checked)
subj <- raw[!duplicated(raw$USUBJID), c("USUBJID", "TRT01P", "SEX", "REGION", "AGE", "FASFL", "PPROTFL")]
for (col in c("TRT01P", "SEX", "REGION", "AGE", "FASFL", "PPROTFL")) {
    stopifnot(all(tapply(raw[[col]], raw$USUBJID, function(x) length(unique(x)) == 1)))
}
base <- raw[raw$AVISITN == 0, c("USUBJID", "AVAL")]
names(base)[2] <- "base"
stopifnot(!anyNA(base$base), nrow(base) == nrow(subj), all(base$base > 0))
subj <- merge(subj, base, by = "USUBJID")
subj$event_visit <- events$visit[match(subj$USUBJID, events$subject_id)] # NA: no event
members <- list(fas = subj$USUBJID[subj$FASFL == "Y"], pp = subj$USUBJID[subj$PPROTFL == "Y"])

# observed post-baseline scores, one row per subject and visit with a score
post_all <- raw[raw$AVISITN %in% VISITS & !is.na(raw$AVAL), c("USUBJID", "AVISITN", "AVAL")]
stopifnot(!anyDuplicated(post_all[, c("USUBJID", "AVISITN")]))

# The estimand's handling of the intercurrent event before an analysis: hypothetical = every
# score from the event's visit on is set missing (visit codes are in time order); treatment
# policy = nothing is removed.
post_scores <- function(strategy) {
    p <- post_all
    if (strategy == "hypothetical") {
        ev <- subj$event_visit[match(p$USUBJID, subj$USUBJID)]
        p <- p[is.na(ev) | p$AVISITN < ev, ]
    }
    p
}

# analysis rows: post-baseline scores of the population's subjects with the subject columns
analysis_rows <- function(strategy, pop) {
    p <- post_scores(strategy)
    p <- p[p$USUBJID %in% members[[pop]], ]
    d <- merge(p, subj, by = "USUBJID")
    d$chg <- d$AVAL - d$base
    d$TRT01P <- factor(d$TRT01P, levels = ARMS)
    d$SEX <- factor(d$SEX)
    d$REGION <- factor(d$REGION)
    d$AVISIT <- factor(d$AVISITN, levels = VISITS)
    d$USUBJID <- factor(d$USUBJID)
    d[order(d$USUBJID, d$AVISIT), ]
}

# ---------------------------------------------------------------------------------------------
# ARD rows
# ---------------------------------------------------------------------------------------------
ARD <- NULL
add_rows <- function(design, id, endpoint, population, estimand, analysis, arm, reference, visit,
                     contrast, stats, subgroup = "", level = "", instrument = INSTRUMENT) {
    stats <- stats[!is.na(stats)]
    ARD <<- rbind(ARD, data.frame(
        design = design, analysis_id = id, endpoint = endpoint, population = population,
        estimand = estimand, analysis = analysis, instrument = instrument, arm = arm,
        reference = reference, visit = as.character(visit), contrast = contrast,
        subgroup = subgroup, level = level, statistic = names(stats), value = unname(stats)
    ))
}
pop_n <- function(pop) table(factor(subj$TRT01P[subj$USUBJID %in% members[[pop]]], levels = ARMS))
# a population's size under an analysis (and once under analysis "population")
add_pop_rows <- function(design, id, endpoint, pop, estimand, analysis) {
    n <- pop_n(pop)
    for (a in ARMS) {
        add_rows(design, id, endpoint, pop, estimand, analysis, a, "", "", "", c(n = n[[a]]),
                 instrument = if (analysis == "population") "" else INSTRUMENT)
    }
}
add_analysed <- function(design, id, endpoint, pop, estimand, analysis, arm, visit, n) {
    for (i in seq_along(arm)) {
        add_rows(design, id, endpoint, pop, estimand, analysis, arm[i], "", visit[i], "analysed",
                 c(n_analysed = n[i]))
    }
}

# ---------------------------------------------------------------------------------------------
# Analyses
# ---------------------------------------------------------------------------------------------

# MMRM of change: chg ~ base*AVISIT + TRT01P*AVISIT (+ covariates) + us(AVISIT | USUBJID), REML,
# Kenward-Roger (linear form); LS means and arm - reference contrasts from emmeans.
# Every MMRM here is fitted to the REML optimum: mmrm's default L-BFGS-B stops by R's relative
# reduction rule (factr 1e7), which on these data leaves -2 REML log-likelihood up to 4e-5 above
# the optimum and moves estimates and SEs by up to 2e-4 (mmrm_convergence.csv). TIGHT_MMRM is
# BFGS (with mmrm's analytic gradient) going on until the relative reduction is below 1e-16;
# L-BFGS-B with factr 10 reaches the same optimum (checks.csv).
TIGHT_MMRM <- list(optimizer = "BFGS", optimizer_control = list(reltol = 1e-16, maxit = 10000))
CHECK_MMRM <- list(optimizer = "L-BFGS-B", optimizer_control = list(factr = 10, pgtol = 0, maxit = 10000))
fit_mmrm_kr <- function(d, covariates, vcov = "Kenward-Roger-Linear", tight = TRUE,
                        optimizer = TIGHT_MMRM, interaction = NULL) {
    rhs <- c("base * AVISIT", if (is.null(interaction)) "TRT01P * AVISIT" else interaction,
             covariates, "us(AVISIT | USUBJID)")
    f <- as.formula(paste("chg ~", paste(rhs, collapse = " + ")))
    if (!tight) return(mmrm(f, data = d, method = "Kenward-Roger", vcov = vcov, reml = TRUE))
    fit <- do.call(mmrm, c(list(formula = f, data = d, method = "Kenward-Roger", vcov = vcov,
                                reml = TRUE), optimizer))
    stopifnot(component(fit, "convergence") == 0)
    fit
}
mmrm_tables <- function(fit) {
    em <- emmeans(fit, ~ TRT01P | AVISIT)
    ls <- as.data.frame(summary(em))
    ct <- as.data.frame(summary(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"),
                                infer = c(TRUE, TRUE)))
    ct$arm <- sub(" - PBO$", "", as.character(ct$contrast))
    stopifnot(all(ct$arm %in% ARMS[-1]))
    list(
        lsmeans = data.frame(arm = as.character(ls$TRT01P), visit = as.character(ls$AVISIT),
                             estimate = ls$emmean, se = ls$SE, df = ls$df, ci_low = ls$lower.CL,
                             ci_high = ls$upper.CL),
        contrasts = data.frame(arm = ct$arm, visit = as.character(ct$AVISIT), estimate = ct$estimate,
                               se = ct$SE, df = ct$df, t = ct$t.ratio, p = ct$p.value,
                               ci_low = ct$lower.CL, ci_high = ct$upper.CL)
    )
}

# lm ANCOVA of change at one visit: coefficients of the arms (model SE, residual df) and LS
# means from emmeans (base at its mean, factor covariates' levels weighted equally)
ancova_tables <- function(d, covariates) {
    f <- as.formula(paste("chg ~", paste(c("TRT01P", covariates), collapse = " + ")))
    fit <- lm(f, data = d)
    co <- summary(fit)$coefficients
    ci <- confint(fit, level = 1 - ALPHA)
    rows <- paste0("TRT01P", ARMS[-1])
    em <- as.data.frame(summary(emmeans(fit, ~ TRT01P)))
    # check: the emmeans contrast equals the coefficient
    ct <- as.data.frame(summary(contrast(emmeans(fit, ~ TRT01P), "trt.vs.ctrl", ref = 1, adjust = "none")))
    stopifnot(max(abs(ct$estimate - co[rows, 1])) < 1e-10)
    list(
        contrasts = data.frame(arm = ARMS[-1], estimate = co[rows, 1], se = co[rows, 2],
                               df = df.residual(fit), t = co[rows, 3], p = co[rows, 4],
                               ci_low = ci[rows, 1], ci_high = ci[rows, 2]),
        lsmeans = data.frame(arm = as.character(em$TRT01P), estimate = em$emmean, se = em$SE,
                             df = em$df, ci_low = em$lower.CL, ci_high = em$upper.CL),
        n = table(factor(as.character(d$TRT01P), levels = ARMS))
    )
}

add_t_tables <- function(design, id, endpoint, pop, estimand, analysis, tabs, visit = NULL) {
    for (i in seq_len(nrow(tabs$contrasts))) {
        r <- tabs$contrasts[i, ]
        v <- if (is.null(visit)) r$visit else visit
        add_rows(design, id, endpoint, pop, estimand, analysis, r$arm, REF, v, "difference",
                 c(estimate = r$estimate, se = r$se, df = r$df, t = r$t, p = r$p,
                   ci_low = r$ci_low, ci_high = r$ci_high))
    }
    for (i in seq_len(nrow(tabs$lsmeans))) {
        r <- tabs$lsmeans[i, ]
        v <- if (is.null(visit)) r$visit else visit
        add_rows(design, id, endpoint, pop, estimand, analysis, r$arm, "", v, "lsmean",
                 c(estimate = r$estimate, se = r$se, df = r$df, ci_low = r$ci_low,
                   ci_high = r$ci_high))
    }
}

# LOCF at the visit: every population subject with a baseline; the last score at or before the
# visit (after the estimand's removal), the baseline itself if there is none
locf_rows <- function(strategy, pop, visit) {
    p <- post_scores(strategy)
    p <- p[p$USUBJID %in% members[[pop]] & p$AVISITN <= visit, ]
    p <- p[order(p$USUBJID, -p$AVISITN), ]
    last <- p[!duplicated(p$USUBJID), c("USUBJID", "AVAL")]
    d <- subj[subj$USUBJID %in% members[[pop]], ]
    d$AVAL <- last$AVAL[match(d$USUBJID, last$USUBJID)]
    d$carried_baseline <- is.na(d$AVAL)
    d$AVAL[is.na(d$AVAL)] <- d$base[is.na(d$AVAL)]
    d$chg <- d$AVAL - d$base
    d$TRT01P <- factor(d$TRT01P, levels = ARMS)
    d$SEX <- factor(d$SEX)
    d$REGION <- factor(d$REGION)
    d
}

# Covariate-adjusted response (g-computation; beeca, Ge et al. 2011 with HC0), observed cases
adjusted_response <- function(design, id, endpoint, pop, estimand, strategy, covariates) {
    d <- analysis_rows(strategy, pop)
    d <- d[d$AVISITN == KEY, ]
    d$resp <- as.numeric((d$base - d$AVAL) / d$base >= 0.5)
    f <- as.formula(paste("resp ~", paste(c("TRT01P", covariates), collapse = " + ")))
    fit <- glm(f, family = binomial, data = d, control = TIGHT)
    stopifnot(fit$converged)
    n <- table(d$TRT01P)
    ev <- tapply(d$resp, d$TRT01P, sum)
    add_analysed(design, id, endpoint, pop, estimand, "adjusted-response", ARMS, rep(KEY, 3), as.numeric(n[ARMS]))
    for (a in ARMS) { # observed rates with the Wilson interval
        w <- prop.test(ev[[a]], n[[a]], correct = FALSE, conf.level = 1 - ALPHA)$conf.int
        add_rows(design, id, endpoint, pop, estimand, "adjusted-response", a, "", KEY, "rate",
                 c(estimate = ev[[a]] / n[[a]], ci_low = w[1], ci_high = w[2], events = ev[[a]],
                   n_analysed = n[[a]]))
    }
    me <- function(ct) {
        m <- get_marginal_effect(fit, trt = "TRT01P", method = "Ge", type = "HC0", contrast = ct,
                                 reference = REF)
        stopifnot(length(m$marginal_est) == 2) # LOW, HIGH (factor order)
        p <- m$counterfactual.means
        chk <- switch(ct, diff = p[ARMS[-1]] - p[REF], rr = p[ARMS[-1]] / p[REF],
                      logrr = log(p[ARMS[-1]] / p[REF]),
                      or = (p[ARMS[-1]] / (1 - p[ARMS[-1]])) / (p[REF] / (1 - p[REF])),
                      logor = log((p[ARMS[-1]] / (1 - p[ARMS[-1]])) / (p[REF] / (1 - p[REF]))))
        stopifnot(isTRUE(all.equal(unname(chk), unname(as.numeric(m$marginal_est)), tolerance = 1e-12)))
        list(est = as.numeric(m$marginal_est), se = as.numeric(m$marginal_se))
    }
    rd <- me("diff")
    out <- data.frame(arm = ARMS[-1], estimate = rd$est, se = rd$se,
                      p = 2 * pnorm(-abs(rd$est / rd$se)))
    for (i in 1:2) {
        add_rows(design, id, endpoint, pop, estimand, "adjusted-response", ARMS[i + 1], REF, KEY,
                 "risk_difference", c(estimate = rd$est[i], se = rd$se[i], ci_low = rd$est[i] - Z * rd$se[i],
                                      ci_high = rd$est[i] + Z * rd$se[i], p = out$p[i]))
    }
    for (pair in list(c("rr", "logrr", "risk_ratio"), c("or", "logor", "odds_ratio"))) {
        r <- me(pair[1])
        l <- me(pair[2])
        for (i in 1:2) {
            add_rows(design, id, endpoint, pop, estimand, "adjusted-response", ARMS[i + 1], REF, KEY,
                     pair[3], c(estimate = r$est[i], se = r$se[i], ci_low = exp(l$est[i] - Z * l$se[i]),
                                ci_high = exp(l$est[i] + Z * l$se[i]),
                                p = 2 * pnorm(-abs(l$est[i] / l$se[i]))))
        }
    }
    out
}

# ---- reference-based multiple imputation (rbmi condmean + jackknife) ------------------------
# Our k-arm version of rbmi::ancova (as in ../rbmi/make_reference.R): at each visit
# lm(change ~ arm + covariates) over all analysed subjects; every arm - reference from the
# coefficient; LS means with rbmi's "counterfactual" weights (the mean over all analysed subjects
# of the prediction with the arm set), which for numeric covariates is the prediction at their
# means.
ancova_multi <- function(data, vars, ...) {
    visits <- levels(data[[vars$visit]])
    out <- list()
    for (v in visits) {
        d <- data[as.character(data[[vars$visit]]) == v, ]
        d2 <- data.frame(y = d[[vars$outcome]], arm = d[[vars$group]], d[, vars$covariates, drop = FALSE])
        fit <- lm(as.formula(paste("y ~ arm +", paste(vars$covariates, collapse = " + "))), data = d2)
        b <- coef(fit)
        V <- vcov(fit)
        dfr <- df.residual(fit)
        X <- model.matrix(fit)
        for (k in seq_along(ARMS)) {
            Xa <- X
            Xa[, paste0("arm", ARMS[-1])] <- 0
            if (k > 1) Xa[, paste0("arm", ARMS[k])] <- 1
            L <- colMeans(Xa)
            out[[paste("lsm", ARMS[k], v, sep = "~")]] <- list(est = sum(L * b), se = sqrt(drop(t(L) %*% V %*% L)), df = dfr)
            if (k > 1) {
                nm <- paste0("arm", ARMS[k])
                out[[paste("trt", ARMS[k], v, sep = "~")]] <- list(est = unname(b[nm]), se = sqrt(V[nm, nm]), df = dfr)
            }
        }
    }
    out
}

# events_strategy: the strategy of the events file's events under the sensitivity's estimand
# (treatment-policy: not imputation events; hypothetical: MAR; JR etc. as named);
# dropout_strategy: the strategy of every other dropout. Intermittent gaps are MAR.
run_mi <- function(pop, events_strategy, dropout_strategy, covariates = character(0)) {
    ids <- members[[pop]]
    p <- post_all[post_all$USUBJID %in% ids, ]
    ice <- NULL
    if (events_strategy != "treatment-policy") {
        ev <- events[events$subject_id %in% ids, ]
        ice <- data.frame(USUBJID = ev$subject_id, AVISIT = ev$visit,
                          strategy = if (events_strategy == "hypothetical") "MAR" else events_strategy)
        # scores from the event's visit on are not used (set missing, then imputed)
        evv <- ev$visit[match(p$USUBJID, ev$subject_id)]
        p <- p[is.na(evv) | p$AVISITN < evv, ]
    }
    # other dropouts: the visit after the last observed score (the first visit if none)
    others <- setdiff(ids, ice$USUBJID)
    last <- tapply(p$AVISITN, p$USUBJID, max)
    lastv <- ifelse(others %in% names(last), last[others], 0)
    drop <- lastv < max(VISITS)
    ice <- rbind(ice, data.frame(USUBJID = others[drop], AVISIT = lastv[drop] + 1, strategy = dropout_strategy))
    # full grid: every subject of the population at every visit
    g <- expand.grid(AVISITN = VISITS, USUBJID = ids, stringsAsFactors = FALSE)
    g <- merge(g, p, by = c("USUBJID", "AVISITN"), all.x = TRUE)
    g <- merge(g, subj[, c("USUBJID", "TRT01P", "SEX", "base")], by = "USUBJID")
    g$chg <- g$AVAL - g$base
    g$TRT01P <- factor(g$TRT01P, levels = ARMS)
    g$SEX <- factor(g$SEX)
    g$AVISIT <- factor(g$AVISITN, levels = VISITS)
    g$USUBJID <- factor(g$USUBJID)
    g <- g[order(g$USUBJID, g$AVISIT), ]
    ice$AVISIT <- factor(ice$AVISIT, levels = VISITS)
    ice$USUBJID <- as.character(ice$USUBJID)
    vars <- set_vars(outcome = "chg", visit = "AVISIT", subjid = "USUBJID", group = "TRT01P",
                     covariates = c("base*AVISIT", "TRT01P*AVISIT", covariates), strategy = "strategy")
    vars_an <- set_vars(outcome = "chg", visit = "AVISIT", subjid = "USUBJID", group = "TRT01P",
                        covariates = c("base", covariates))
    t0 <- Sys.time()
    dr <- draws(g, ice, vars, method_condmean(type = "jackknife"), quiet = TRUE)
    im <- impute(dr, references = setNames(rep(REF, length(ARMS)), ARMS))
    po <- pool(analyse(im, ancova_multi, vars = vars_an))
    cat(sprintf("rbmi %s/%s%s: %.0f s, %d subjects, %d ICEs\n", events_strategy, dropout_strategy,
                if (length(covariates)) paste0(" +", covariates) else "",
                as.numeric(difftime(Sys.time(), t0, units = "secs")), length(ids), nrow(ice)))
    tab <- do.call(rbind, lapply(names(po$pars), function(nm) {
        x <- po$pars[[nm]]
        parts <- strsplit(nm, "~", fixed = TRUE)[[1]]
        data.frame(kind = parts[1], arm = parts[2], visit = parts[3], estimate = x$est, se = x$se,
                   ci_low = x$ci[1], ci_high = x$ci[2], p = x$pvalue)
    }))
    list(tab = tab, ice = ice, n = table(factor(subj$TRT01P[subj$USUBJID %in% ids], levels = ARMS)))
}
add_mi_rows <- function(design, id, endpoint, pop, estimand, mi, lsmeans = TRUE) {
    t <- mi$tab[mi$tab$visit == as.character(KEY), ]
    for (i in which(t$kind == "trt")) {
        add_rows(design, id, endpoint, pop, estimand, "mi", t$arm[i], REF, KEY, "difference",
                 c(estimate = t$estimate[i], se = t$se[i], p = t$p[i], ci_low = t$ci_low[i],
                   ci_high = t$ci_high[i]))
    }
    if (lsmeans) {
        for (i in which(t$kind == "lsm")) {
            add_rows(design, id, endpoint, pop, estimand, "mi", t$arm[i], "", KEY, "lsmean",
                     c(estimate = t$estimate[i], se = t$se[i], ci_low = t$ci_low[i], ci_high = t$ci_high[i]))
        }
        add_analysed(design, id, endpoint, pop, estimand, "mi", ARMS, rep(KEY, 3), as.numeric(mi$n[ARMS]))
    }
}

# ---------------------------------------------------------------------------------------------
# 0. Convention check: without covariates, mmrm(chg ~ base*AVISIT + TRT01P*AVISIT + us) equals
#    the project's earlier MMRM reference (../mmrm_r: chg ~ visit + arm:visit + base:visit)
# ---------------------------------------------------------------------------------------------
b <- read.csv(file.path(EXTERNAL, "btheb_long.csv"))
b <- b[!is.na(b$bdi) & !is.na(b$bdi.pre), ]
bd <- data.frame(USUBJID = factor(b$subject), TRT01P = relevel(factor(b$treatment), "TAU"),
                 AVISIT = factor(b$time, levels = sort(unique(b$time))), base = b$bdi.pre,
                 chg = b$bdi - b$bdi.pre)
bfit <- mmrm(chg ~ base * AVISIT + TRT01P * AVISIT + us(AVISIT | USUBJID), data = bd,
             method = "Kenward-Roger", vcov = "Kenward-Roger-Linear", reml = TRUE)
bct <- as.data.frame(summary(contrast(emmeans(bfit, ~ TRT01P | AVISIT), "trt.vs.ctrl", ref = 1,
                                      adjust = "none"), infer = c(TRUE, TRUE)))
bls <- as.data.frame(summary(emmeans(bfit, ~ TRT01P | AVISIT)))
old_ct <- read.csv("../mmrm_r/btheb_contrasts_kr.csv")
old_ls <- read.csv("../mmrm_r/btheb_lsmeans_kr.csv")
m <- match(as.character(old_ct$visit), as.character(bct$AVISIT))
add_check("convention_btheb_contrasts_max_abs_diff_estimate_se",
          signif(max(abs(old_ct$estimate - bct$estimate[m]), abs(old_ct$se - bct$SE[m])), 3),
          "mmrm(chg ~ base*AVISIT + TRT01P*AVISIT) vs ../mmrm_r/btheb_contrasts_kr.csv")
add_check("convention_btheb_contrasts_max_abs_diff_df_p",
          signif(max(abs(old_ct$df - bct$df[m]), abs(old_ct$p - bct$p.value[m])), 3))
m2 <- match(paste(old_ls$arm, old_ls$visit), paste(bls$TRT01P, bls$AVISIT))
add_check("convention_btheb_lsmeans_max_abs_diff_estimate_se_df",
          signif(max(abs(old_ls$estimate - bls$emmean[m2]), abs(old_ls$se - bls$SE[m2]),
                     abs(old_ls$df - bls$df[m2])), 3))

# ---------------------------------------------------------------------------------------------
# 1. The two designs
# ---------------------------------------------------------------------------------------------
kr_variants <- NULL
conv <- NULL
for (design in c("plan_trial.toml", "plan_trial_tp.toml")) {
    cat("\n== ", design, " ==\n", sep = "")
    strategy <- if (design == "plan_trial.toml") "hypothetical" else "treatment-policy"
    EST <- "main"
    for (pop in c("fas", "pp")) add_pop_rows(design, paste0("population-", pop), "", pop, "", "population")

    # -- primary: MMRM with SEX on the FAS
    d <- analysis_rows(strategy, "fas")
    fit <- fit_mmrm_kr(d, "SEX")
    tabs <- mmrm_tables(fit)
    tabs$contrasts <- tabs$contrasts[tabs$contrasts$visit == KEY, ]
    tabs$lsmeans <- tabs$lsmeans[tabs$lsmeans$visit == KEY, ]
    add_pop_rows(design, "primary", "primary", "fas", EST, "mmrm")
    nn <- as.data.frame(table(arm = factor(as.character(d$TRT01P), levels = ARMS), visit = d$AVISITN))
    add_analysed(design, "primary", "primary", "fas", EST, "mmrm", as.character(nn$arm), nn$visit, nn$Freq)
    add_t_tables(design, "primary", "primary", "fas", EST, "mmrm", tabs)
    add_rows(design, "primary", "primary", "fas", EST, "mmrm", "", "", "", "fit",
             c(neg2_reml_loglik = -2 * as.numeric(logLik(fit)), n_subjects = nlevels(droplevels(d$USUBJID)),
               n_obs = nrow(d)))
    primary_p <- tabs$contrasts$p[match(ARMS[-1], tabs$contrasts$arm)]
    # convergence: mmrm's default optimiser control and BFGS against the tight L-BFGS-B fit
    for (cv in list(list("primary", "SEX"), list("primary-unadjusted", character(0)))) {
        fits <- list(tight_bfgs = fit_mmrm_kr(d, cv[[2]]),
                     tight_lbfgsb = fit_mmrm_kr(d, cv[[2]], optimizer = CHECK_MMRM),
                     mmrm_default = fit_mmrm_kr(d, cv[[2]], tight = FALSE))
        for (nm in names(fits)) {
            tt <- mmrm_tables(fits[[nm]])$contrasts
            tt <- tt[tt$visit == KEY, ]
            conv <- rbind(conv, data.frame(design = design, endpoint = cv[[1]], control = nm,
                                           neg2_reml_loglik = -2 * as.numeric(logLik(fits[[nm]])),
                                           tt[, c("arm", "estimate", "se", "df", "p")]))
        }
        a <- conv[conv$design == design & conv$endpoint == cv[[1]] & conv$control == "tight_bfgs", ]
        bb <- conv[conv$design == design & conv$endpoint == cv[[1]] & conv$control == "tight_lbfgsb", ]
        z <- conv[conv$design == design & conv$endpoint == cv[[1]] & conv$control == "mmrm_default", ]
        add_check(sprintf("%s_%s_tight_bfgs_vs_lbfgsb_max_abs_diff_estimate_se", design, cv[[1]]),
                  signif(max(abs(a$estimate - bb$estimate), abs(a$se - bb$se)), 3))
        add_check(sprintf("%s_%s_neg2ll_default_minus_tight", design, cv[[1]]),
                  signif(z$neg2_reml_loglik[1] - a$neg2_reml_loglik[1], 3),
                  "positive: the default control stops above the optimum")
    }
    # the same model with vcov = "Kenward-Roger" (the non-linear form), for information
    fit_kr <- fit_mmrm_kr(d, "SEX", vcov = "Kenward-Roger")
    tk <- mmrm_tables(fit_kr)
    kr_variants <- rbind(kr_variants,
        cbind(design = design, vcov = "Kenward-Roger-Linear", kind = "difference", tabs$contrasts[, c("arm", "visit", "estimate", "se", "df", "p")]),
        cbind(design = design, vcov = "Kenward-Roger", kind = "difference", tk$contrasts[tk$contrasts$visit == KEY, c("arm", "visit", "estimate", "se", "df", "p")]),
        cbind(design = design, vcov = "Kenward-Roger-Linear", kind = "lsmean", p = NA, tabs$lsmeans[, c("arm", "visit", "estimate", "se", "df")]),
        cbind(design = design, vcov = "Kenward-Roger", kind = "lsmean", p = NA, tk$lsmeans[tk$lsmeans$visit == KEY, c("arm", "visit", "estimate", "se", "df")]))

    # -- key secondary: adjusted response (beeca, Ge / HC0), observed cases, on the FAS
    add_pop_rows(design, "key-secondary", "key-secondary", "fas", EST, "adjusted-response")
    ks <- adjusted_response(design, "key-secondary", "key-secondary", "fas", EST, strategy, c("base", "SEX"))
    ks_p <- ks$p[match(ARMS[-1], ks$arm)]

    # -- secondary: ANCOVA of change on the PP set, baseline and REGION
    d <- analysis_rows(strategy, "pp")
    d <- d[d$AVISITN == KEY, ]
    at <- ancova_tables(d, c("base", "REGION"))
    add_pop_rows(design, "secondary-pp", "secondary-pp", "pp", EST, "ancova")
    add_analysed(design, "secondary-pp", "secondary-pp", "pp", EST, "ancova", ARMS, rep(KEY, 3), as.numeric(at$n[ARMS]))
    add_t_tables(design, "secondary-pp", "secondary-pp", "pp", EST, "ancova", at, visit = KEY)

    # -- primary-unadjusted: MMRM without SEX (the basis of the MI sensitivity)
    d <- analysis_rows(strategy, "fas")
    fit0 <- fit_mmrm_kr(d, character(0))
    t0 <- mmrm_tables(fit0)
    t0$contrasts <- t0$contrasts[t0$contrasts$visit == KEY, ]
    t0$lsmeans <- t0$lsmeans[t0$lsmeans$visit == KEY, ]
    add_pop_rows(design, "primary-unadjusted", "primary-unadjusted", "fas", EST, "mmrm")
    nn <- as.data.frame(table(arm = factor(as.character(d$TRT01P), levels = ARMS), visit = d$AVISITN))
    add_analysed(design, "primary-unadjusted", "primary-unadjusted", "fas", EST, "mmrm", as.character(nn$arm), nn$visit, nn$Freq)
    add_t_tables(design, "primary-unadjusted", "primary-unadjusted", "fas", EST, "mmrm", t0)
    add_rows(design, "primary-unadjusted", "primary-unadjusted", "fas", EST, "mmrm", "", "", "", "fit",
             c(neg2_reml_loglik = -2 * as.numeric(logLik(fit0)), n_subjects = nlevels(droplevels(d$USUBJID)),
               n_obs = nrow(d)))

    # -- hierarchical multiplicity: family order primary LOW, primary HIGH, key-secondary LOW,
    #    key-secondary HIGH; adjusted p = running maximum of the raw p
    fam_p <- c(primary_p, ks_p)
    adj <- cummax(fam_p)
    fam <- data.frame(id = rep(c("primary", "key-secondary"), each = 2), arm = rep(ARMS[-1], 2),
                      contrast = rep(c("difference", "risk_difference"), each = 2))
    for (i in 1:4) {
        add_rows(design, fam$id[i], fam$id[i], "fas", EST, if (i <= 2) "mmrm" else "adjusted-response",
                 fam$arm[i], REF, KEY, fam$contrast[i], c(p_adjusted = adj[i]))
    }
    cat(sprintf("family p: %s\nadjusted: %s\n", paste(signif(fam_p, 4), collapse = " "), paste(signif(adj, 4), collapse = " ")))

    # -- sensitivity primary-locf: ANCOVA of LOCF change on arm + baseline + SEX at the visit
    d <- locf_rows(strategy, "fas", KEY)
    lt <- ancova_tables(d, c("base", "SEX"))
    add_pop_rows(design, "primary-locf", "primary", "fas", EST, "missing-rule")
    add_analysed(design, "primary-locf", "primary", "fas", EST, "missing-rule", ARMS, rep(KEY, 3), as.numeric(lt$n[ARMS]))
    add_t_tables(design, "primary-locf", "primary", "fas", EST, "missing-rule", lt, visit = KEY)
    add_check(sprintf("%s_locf_subjects_carrying_baseline", design), sum(d$carried_baseline))

    # -- sensitivity mi-jr: rbmi condmean + jackknife, JR. plan_trial.toml names the estimand
    #    rescue-jr (the events file's events under JR); plan_trial_tp.toml takes the endpoint's
    #    (treatment policy: the events are not imputation events). Other dropouts: JR.
    mi_est <- if (design == "plan_trial.toml") "rescue-jr" else EST
    mi <- run_mi("fas", if (design == "plan_trial.toml") "JR" else "treatment-policy", "JR")
    add_pop_rows(design, "mi-jr", "primary-unadjusted", "fas", mi_est, "mi")
    add_mi_rows(design, "mi-jr", "primary-unadjusted", "fas", mi_est, mi)
    write_out(transform(mi$ice, AVISIT = as.character(AVISIT))[order(mi$ice$USUBJID), ],
              sprintf("mi_events_%s.csv", sub(".toml", "", design, fixed = TRUE)))
    if (design == "plan_trial.toml") {
        # the SPEC's target (not yet built by the project): the MI sensitivity of the primary
        # itself, keeping its covariate SEX in the imputation and analysis models
        mis <- run_mi("fas", "JR", "JR", covariates = "SEX")
        add_mi_rows(paste0(design, "+mi-of-primary"), "mi-jr", "primary", "fas", mi_est, mis, lsmeans = FALSE)
    }

    # -- subgroup: REGION, on the primary's model with the arm-by-visit-by-region interaction
    d <- analysis_rows(strategy, "fas")
    fs <- fit_mmrm_kr(d, "SEX", interaction = "TRT01P * AVISIT * REGION")
    em <- emmeans(fs, ~ TRT01P | AVISIT * REGION)
    cs <- contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none")
    ct <- as.data.frame(summary(cs, infer = c(TRUE, TRUE)))
    ct$arm <- sub(" - PBO$", "", as.character(ct$contrast))
    sid <- "primary-by-REGION"
    add_pop_rows(design, sid, "primary", "fas", EST, "subgroup")
    at_key <- which(as.character(ct$AVISIT) == as.character(KEY))
    for (i in at_key) {
        add_rows(design, sid, "primary", "fas", EST, "subgroup", ct$arm[i], REF, KEY, "difference",
                 c(estimate = ct$estimate[i], se = ct$SE[i], df = ct$df[i], t = ct$t.ratio[i],
                   p = ct$p.value[i], ci_low = ct$lower.CL[i], ci_high = ct$upper.CL[i]),
                 subgroup = "REGION", level = as.character(ct$REGION[i]))
    }
    # joint test at the visit: the arm effects equal across the levels; L = (effect of arm a in
    # level j) - (effect of arm a in the first level), arms LOW, HIGH x levels 2..3
    Lc <- cs@linfct[at_key, , drop = FALSE]
    lv <- levels(d$REGION)
    key_rows <- ct[at_key, ]
    L <- NULL
    for (a in ARMS[-1]) {
        first <- which(key_rows$arm == a & key_rows$REGION == lv[1])
        for (j in lv[-1]) L <- rbind(L, Lc[which(key_rows$arm == a & key_rows$REGION == j), ] - Lc[first, ])
    }
    stopifnot(nrow(L) == (length(ARMS) - 1) * (length(lv) - 1))
    jt <- df_md(fs, L)
    add_rows(design, sid, "primary", "fas", EST, "subgroup", "", "", KEY, "interaction",
             c(interaction_num_df = jt$num_df, interaction_den_df = jt$denom_df,
               interaction_f = jt$f_stat, interaction_p = jt$p_val), subgroup = "REGION")
    # cross-check: the same hypothesis written on the model's coefficients directly (the
    # TRT01P:REGION terms plus the TRT01P:AVISIT<key>:REGION terms)
    cf <- names(coef(fs))
    term <- function(...) { # the coefficient named by these factor levels, in any order
        want <- sort(c(...))
        hit <- cf[vapply(strsplit(cf, ":", fixed = TRUE), function(x) identical(sort(x), want), TRUE)]
        stopifnot(length(hit) == 1)
        hit
    }
    L2 <- NULL
    for (a in ARMS[-1]) for (j in lv[-1]) {
        row <- setNames(numeric(length(cf)), cf)
        row[term(paste0("TRT01P", a), paste0("REGION", j))] <- 1
        row[term(paste0("TRT01P", a), paste0("AVISIT", KEY), paste0("REGION", j))] <- 1
        L2 <- rbind(L2, row)
    }
    jt2 <- df_md(fs, L2)
    add_check(sprintf("%s_subgroup_joint_test_two_L_forms_max_abs_diff", design),
              signif(max(abs(c(jt$f_stat - jt2$f_stat, jt$denom_df - jt2$denom_df, jt$p_val - jt2$p_val))), 3),
              "L from emmeans linear functions vs L on the coefficients")
    cat(sprintf("subgroup joint test: F(%g, %.3f) = %.4f, p = %.4g\n", jt$num_df, jt$denom_df, jt$f_stat, jt$p_val))
}

# population n from the flags (also in the ARD): a check that the counts add up
add_check("fas_n_per_arm", paste(ARMS, pop_n("fas")[ARMS], collapse = " "))
add_check("pp_n_per_arm", paste(ARMS, pop_n("pp")[ARMS], collapse = " "))
add_check("events_in_file", nrow(events))
add_check("events_in_fas", sum(events$subject_id %in% members$fas))

rownames(ARD) <- NULL
write_out(ARD, "reference_ard.csv")
write_out(kr_variants, "primary_kr_variants.csv")
write_out(conv, "mmrm_convergence.csv")
write_out(checks, "checks.csv")
sink("sessionInfo.txt")
print(sessionInfo())
cat("\nmmrm", as.character(packageVersion("mmrm")), " TMB", as.character(packageVersion("TMB")),
    " emmeans", as.character(packageVersion("emmeans")), " beeca", as.character(packageVersion("beeca")),
    " rbmi", as.character(packageVersion("rbmi")), "\n")
sink()
cat("done\n")
