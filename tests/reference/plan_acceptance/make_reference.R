# Independent R reference for the hidden acceptance trial of issue 23 (ACC-23).
#
# Run from this folder:  Rscript make_reference.R
# Needs mmrm 0.3.18, emmeans, beeca 0.2.0, rbmi 1.5.2, sandwich.
#
# Reads acc_trial.csv and events.csv only (made by make_acc23_trial.py) and computes the numbers of the
# plan in acc_trial.toml, written from the SPEC ("The analysis plan"), without the project.
# Output: reference.csv (id, arm, visit, contrast, statistic, value; see README.md) and
# sessionInfo.txt.

suppressPackageStartupMessages({
    library(mmrm)
    library(emmeans)
    library(beeca)
    library(rbmi)
})
options(warn = 1, stringsAsFactors = FALSE)

REF <- "PLACEBO"
ARMS <- c("PLACEBO", "DRUG A", "DRUG B") # reference first (R's treatment coding)
POST <- c("WEEK 1", "WEEK 2", "WEEK 4", "WEEK 6")
KEY <- "WEEK 6"
ALPHA <- 0.05
Z <- qnorm(1 - ALPHA / 2)
TIGHT_MMRM <- list(optimizer = "BFGS", optimizer_control = list(reltol = 1e-16))

rows_out <- list()
put <- function(id, arm, visit, contrast, stats) {
    for (s in names(stats)) {
        v <- as.numeric(stats[[s]])
        stopifnot(length(v) == 1)
        rows_out[[length(rows_out) + 1]] <<- data.frame(id = id, arm = arm, visit = visit,
            contrast = contrast, statistic = s, value = v)
    }
}

raw <- read.csv("acc_trial.csv", colClasses = c(USUBJID = "character", ARMCD = "character",
                AVISIT = "character", SEX = "character", FASFL = "character",
                PPROTFL = "character"))
events <- read.csv("events.csv", colClasses = "character")
subj <- raw[raw$AVISIT == "BASELINE", c("USUBJID", "ARMCD", "AVAL", "AGE", "SEX", "FASFL", "PPROTFL")]
names(subj)[3] <- "base"
stopifnot(!anyNA(subj$base), !anyDuplicated(subj$USUBJID))

# ---- populations: n = subjects flagged Y ------------------------------------------------------
for (p in c("FASFL", "PPROTFL")) {
    id <- if (p == "FASFL") "population-fas" else "population-pps"
    for (a in ARMS) put(id, a, "", "", list(n = sum(subj$ARMCD == a & subj[[p]] == "Y")))
}
fas <- subj[subj$FASFL == "Y", ]
pps <- subj[subj$PPROTFL == "Y", ]

# post-baseline rows with a score (treatment policy: scores after the event used as observed)
post <- merge(raw[raw$AVISIT %in% POST & !is.na(raw$AVAL), c("USUBJID", "AVISIT", "AVAL")],
              subj[, c("USUBJID", "ARMCD", "base", "AGE", "SEX")], by = "USUBJID")
post$chg <- post$AVAL - post$base
post$ARMCD <- factor(post$ARMCD, levels = ARMS)
post$AVISIT <- factor(post$AVISIT, levels = POST)
post$SEX <- factor(post$SEX)
post$USUBJID <- factor(post$USUBJID)

emm_rows <- function(id, emm, contrast) {
    s <- summary(emm, infer = TRUE, level = 1 - ALPHA)
    for (i in seq_len(nrow(s))) {
        put(id, as.character(s$ARMCD[i]), as.character(s$AVISIT[i]), contrast,
            list(estimate = s$emmean[i], se = s$SE[i], df = s$df[i], ci_low = s$lower.CL[i],
                 ci_high = s$upper.CL[i]))
    }
}
con_rows <- function(id, con, visit_col = TRUE) {
    s <- summary(con, infer = TRUE, level = 1 - ALPHA)
    for (i in seq_len(nrow(s))) {
        arm <- sub(" - PLACEBO$", "", as.character(s$contrast[i]))
        put(id, arm, if (visit_col) as.character(s$AVISIT[i]) else KEY, "difference",
            list(estimate = s$estimate[i], se = s$SE[i], df = s$df[i], t = s$t.ratio[i],
                 p = s$p.value[i], ci_low = s$lower.CL[i], ci_high = s$upper.CL[i]))
    }
}

# ---- primary: MMRM, FAS, covariate AGE, treatment policy ---------------------------------------
d1 <- droplevels(post[post$USUBJID %in% fas$USUBJID, ])
d1$USUBJID <- factor(as.character(d1$USUBJID))
fit1 <- do.call(mmrm, c(list(chg ~ base * AVISIT + ARMCD * AVISIT + AGE + us(AVISIT | USUBJID),
                             data = d1, method = "Kenward-Roger", vcov = "Kenward-Roger-Linear",
                             reml = TRUE), TIGHT_MMRM))
em1 <- emmeans(fit1, ~ ARMCD | AVISIT)
emm_rows("primary", em1, "lsmean")
con_rows("primary", contrast(em1, "trt.vs.ctrl", ref = 1, adjust = "none"))
put("primary", "", "", "fit", list(neg2_reml_loglik = -2 * logLik(fit1), n_subjects =
    length(unique(d1$USUBJID)), n_obs = nrow(d1)))
for (a in ARMS) for (v in POST) {
    put("primary", a, v, "analysed", list(n_analysed = sum(d1$ARMCD == a & d1$AVISIT == v)))
}

# ---- key secondary: response at Week 6, NRI, beeca Ye, covariates base + AGE + SEX --------------
wk <- post[post$AVISIT == KEY, c("USUBJID", "AVAL")]
r <- merge(fas, wk, by = "USUBJID", all.x = TRUE)
r$resp <- ifelse(is.na(r$AVAL), 0L, as.integer((r$base - r$AVAL) / r$base >= 0.5)) # NRI
r$ARMCD <- factor(r$ARMCD, levels = ARMS)
r$SEX <- factor(r$SEX)
g <- glm(resp ~ ARMCD + base + AGE + SEX, family = binomial, data = r,
         control = glm.control(epsilon = 1e-14, maxit = 100))
stopifnot(g$converged)
for (what in c("diff", "rr", "or")) {
    me <- get_marginal_effect(g, trt = "ARMCD", method = "Ye", contrast = what, reference = REF)
    ard <- me$marginal_results
    for (a in setdiff(ARMS, REF)) {
        mine <- grepl(a, ard$TRTVAL, fixed = TRUE) & grepl(REF, ard$TRTVAL, fixed = TRUE)
        est <- ard$STATVAL[mine & ard$STAT == what]
        se <- ard$STATVAL[mine & ard$STAT == paste0(what, "_se")]
        name <- c(diff = "risk_difference", rr = "risk_ratio", or = "odds_ratio")[[what]]
        if (what == "diff") {
            zz <- est / se
            put("resp", a, KEY, name, list(estimate = est, se = se, ci_low = est - Z * se,
                ci_high = est + Z * se, p = 2 * pnorm(-abs(zz))))
        } else {
            # CI and p on the log scale (delta method: se_log = se / est)
            sl <- se / est
            put("resp", a, KEY, name, list(estimate = est, se = se, ci_low = exp(log(est) - Z * sl),
                ci_high = exp(log(est) + Z * sl), p = 2 * pnorm(-abs(log(est) / sl))))
        }
    }
}
for (a in ARMS) {
    x <- r$resp[r$ARMCD == a]
    w <- prop.test(sum(x), length(x), correct = FALSE, conf.level = 1 - ALPHA)$conf.int
    put("resp", a, KEY, "rate", list(estimate = mean(x), ci_low = w[1], ci_high = w[2],
        events = sum(x), n_analysed = length(x)))
}

# ---- secondary: ANCOVA on the per-protocol set at Week 6 (lm + emmeans) -------------------------
d3 <- post[post$AVISIT == KEY & post$USUBJID %in% pps$USUBJID, ]
d3$ARMCD <- factor(as.character(d3$ARMCD), levels = ARMS)
fit3 <- lm(chg ~ ARMCD + base + SEX, data = d3)
em3 <- emmeans(fit3, ~ ARMCD)
s3 <- summary(em3, infer = TRUE)
for (i in seq_len(nrow(s3))) {
    put("anc-pp", as.character(s3$ARMCD[i]), KEY, "lsmean", list(estimate = s3$emmean[i],
        se = s3$SE[i], df = s3$df[i], ci_low = s3$lower.CL[i], ci_high = s3$upper.CL[i]))
}
con_rows("anc-pp", contrast(em3, "trt.vs.ctrl", ref = 1, adjust = "none"), visit_col = FALSE)
for (a in ARMS) put("anc-pp", a, KEY, "analysed", list(n_analysed = sum(d3$ARMCD == a)))

# ---- subgroup: primary by SEX (arm x visit x SEX), joint interaction test at Week 6 -------------
fit4 <- do.call(mmrm, c(list(chg ~ base * AVISIT + ARMCD * AVISIT * SEX + AGE + us(AVISIT | USUBJID),
                             data = d1, method = "Kenward-Roger", vcov = "Kenward-Roger-Linear",
                             reml = TRUE), TIGHT_MMRM))
em4 <- emmeans(fit4, ~ ARMCD | AVISIT * SEX)
c4 <- summary(contrast(em4, "trt.vs.ctrl", ref = 1, adjust = "none"), infer = TRUE)
c4 <- c4[c4$AVISIT == KEY, ]
for (i in seq_len(nrow(c4))) {
    arm <- sub(" - PLACEBO$", "", as.character(c4$contrast[i]))
    put(paste0("primary-by-SEX:", c4$SEX[i]), arm, KEY, "difference",
        list(estimate = c4$estimate[i], se = c4$SE[i], df = c4$df[i], t = c4$t.ratio[i],
             p = c4$p.value[i], ci_low = c4$lower.CL[i], ci_high = c4$upper.CL[i]))
}
# joint test: (arm - PBO in M) - (arm - PBO in F) = 0 for both arms, at Week 6
lf <- em4@linfct
g4 <- em4@grid
cell <- function(a, s) which(g4$ARMCD == a & g4$SEX == s & g4$AVISIT == KEY)
L <- do.call(rbind, lapply(c("DRUG A", "DRUG B"), function(a) {
    (lf[cell(a, "M"), ] - lf[cell(REF, "M"), ]) - (lf[cell(a, "F"), ] - lf[cell(REF, "F"), ])
}))
jt <- df_md(fit4, L)
put("primary-by-SEX", "", KEY, "interaction", list(interaction_num_df = jt$num_df,
    interaction_den_df = jt$denom_df, interaction_f = jt$f_stat, interaction_p = jt$p_val))

# ---- multiple imputation (rbmi): every FAS subject at every visit -------------------------------
full <- expand.grid(USUBJID = fas$USUBJID, AVISIT = POST, stringsAsFactors = FALSE)
full <- merge(full, fas[, c("USUBJID", "ARMCD", "base", "AGE")], by = "USUBJID")
full <- merge(full, raw[, c("USUBJID", "AVISIT", "AVAL")], by = c("USUBJID", "AVISIT"), all.x = TRUE)
full$chg <- full$AVAL - full$base
full$AVISIT <- factor(full$AVISIT, levels = POST)
full$ARMCD <- factor(full$ARMCD, levels = ARMS)
full$USUBJID <- factor(full$USUBJID)
full <- full[order(full$USUBJID, full$AVISIT), ]
vars <- set_vars(subjid = "USUBJID", visit = "AVISIT", outcome = "chg", group = "ARMCD",
                 covariates = c("base*AVISIT", "ARMCD*AVISIT", "AGE"), strategy = "strategy")
lastobs <- function(dat) {
    # the visit after each subject's last observed score (dropout), NA when the last is observed
    do.call(rbind, lapply(split(dat, dat$USUBJID, drop = TRUE), function(s) {
        obs <- which(!is.na(s$chg))
        k <- if (length(obs)) max(obs) else 0
        data.frame(USUBJID = s$USUBJID[1], drop = if (k < length(POST)) POST[k + 1] else NA)
    }))
}
run_mi <- function(id, dat, ice, deltas = NULL) {
    d <- draws(data = dat, data_ice = ice, vars = vars,
               method = method_condmean(type = "jackknife"), quiet = TRUE)
    refs <- setNames(rep(REF, length(ARMS)), ARMS)
    im <- impute(d, references = refs)
    if (is.null(deltas)) deltas <- list(NULL)
    for (dl in deltas) {
        dtab <- NULL
        tag <- id
        if (!is.null(dl)) {
            dtab <- delta_template(im)
            dtab$delta <- ifelse(dtab$is_post_ice & dtab$ARMCD != REF, dl, 0)
            tag <- paste0(id, ":delta=", dl)
        }
        an <- analyse(im, ancova3, delta = dtab)
        pl <- as.data.frame(pool(an, conf.level = 1 - ALPHA))
        for (i in seq_len(nrow(pl))) {
            bits <- strsplit(pl$parameter[i], "|", fixed = TRUE)[[1]] # kind|arm|visit
            if (bits[3] != KEY) next
            if (bits[1] == "trt") {
                put(tag, bits[2], KEY, "difference", list(estimate = pl$est[i], se = pl$se[i],
                    ci_low = pl$lci[i], ci_high = pl$uci[i], p = pl$pval[i]))
            } else if (is.null(dl)) { # the tipping point reports differences only
                put(tag, bits[2], KEY, "lsmean", list(estimate = pl$est[i], se = pl$se[i],
                    ci_low = pl$lci[i], ci_high = pl$uci[i]))
            }
        }
    }
}

# Analysis of each imputed data set (rbmi's ancova takes two arms only): at each visit
# lm(chg ~ arm + base + AGE) over all FAS subjects; contrasts = arm coefficients; LS means =
# the model's predictions averaged over every subject with the arm set (linear model with numeric
# covariates only: equal to emmeans at the covariates' means).
ancova3 <- function(data, ...) {
    res <- list()
    for (v in POST) {
        dv <- data[data$AVISIT == v, ]
        f <- lm(chg ~ ARMCD + base + AGE, data = dv)
        cf <- summary(f)$coefficients
        for (a in setdiff(ARMS, REF)) {
            nm <- paste0("ARMCD", a)
            res[[paste("trt", a, v, sep = "|")]] <- list(est = cf[nm, 1], se = cf[nm, 2],
                                                         df = NA)
        }
        X <- model.matrix(f)
        for (a in ARMS) {
            Xa <- X
            Xa[, paste0("ARMCD", setdiff(ARMS, REF))] <- 0
            if (a != REF) Xa[, paste0("ARMCD", a)] <- 1
            w <- colMeans(Xa)
            res[[paste("lsm", a, v, sep = "|")]] <- list(est = sum(w * coef(f)),
                se = sqrt(drop(t(w) %*% vcov(f) %*% w)), df = NA)
        }
    }
    res
}

# MI JR sensitivity (estimand jr): events file's events by JR (scores from the event on removed),
# other dropouts by JR (the sensitivity's strategy), intermittent gaps MAR
mi1 <- full
ev <- events[events$subject_id %in% fas$USUBJID, ]
evk <- match(ev$visit, POST)
stopifnot(!anyNA(evk))
for (j in seq_len(nrow(ev))) {
    gone <- as.character(mi1$USUBJID) == ev$subject_id[j] & as.integer(mi1$AVISIT) >= evk[j]
    mi1$chg[gone] <- NA
}
lo <- lastobs(mi1)
lo <- lo[!is.na(lo$drop) & !(lo$USUBJID %in% ev$subject_id), ]
ice1 <- rbind(data.frame(USUBJID = ev$subject_id, AVISIT = ev$visit, strategy = "JR"),
              data.frame(USUBJID = as.character(lo$USUBJID), AVISIT = lo$drop, strategy = "JR"))
write.csv(ice1, "mi_events_jr.csv", row.names = FALSE)
run_mi("mi-jr", mi1, ice1)

# Tipping point (estimand tp, MAR): events are not imputation events (scores kept); dropouts MAR
# with delta added to imputed post-dropout scores of the non-reference arms
lo2 <- lastobs(full)
lo2 <- lo2[!is.na(lo2$drop), ]
ice2 <- data.frame(USUBJID = as.character(lo2$USUBJID), AVISIT = lo2$drop, strategy = "MAR")
write.csv(ice2, "mi_events_tipping.csv", row.names = FALSE)
run_mi("tipping", full, ice2, deltas = list(0, 2, 4, 6))

out <- do.call(rbind, rows_out)
write.csv(out, "reference.csv", row.names = FALSE)
cat("wrote reference.csv:", nrow(out), "rows\n")
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
