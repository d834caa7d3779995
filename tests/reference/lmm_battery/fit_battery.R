# lme4 / lmerTest / pbkrtest reference fits of the battery (data/), the external trials and the
# project's synthetic trial. Run here after make_battery.R:  Rscript fit_battery.R [battery|external|nested ...]
# (no argument: all three parts).
#
# Growth model, on every row with an observed score (baseline included), arm relevelled to TAU
# (PLACEBO, 0 ... for the external trials), time numeric:
#   hamd17 ~ arm * visit + (1 | subject_id)        structure "intercept"
#   hamd17 ~ arm * visit + (visit | subject_id)    structure "slope" (correlated intercept and slope)
# REML and ML, each with bobyqa and Nelder_Mead (maxfun 1e6); the fit with the larger logLik is kept
# (both values recorded). Fixed effects: Satterthwaite df (lmerTest), and for REML Kenward-Roger
# (lmerTest summary(ddf = "Kenward-Roger"), which calls pbkrtest::vcovAdj: KR-adjusted SE, df, t, p).
# Partially nested model (as ../lmm/make_reference.R), post-baseline rows:
#   hamd17 ~ baseline + arm * visit + (1 | subject_id) + (0 + pegt | tgroup), REML,
# and the same without the group term.
source("battery_lib.R")
args <- commandArgs(trailingOnly = TRUE)
parts <- if (length(args)) args else c("battery", "external", "nested")
ext_dir <- "../../../../shared/data/external"
say <- function(...) { cat(sprintf(...), "\n", file = stderr()); flush(stderr()) }

read_battery <- function(file) {
  d <- read.csv(file, colClasses = c(subject_id = "character", arm = "character"), na.strings = "")
  d
}
prepare <- function(d, reference) {
  d <- d[!is.na(d$hamd17), ]
  d$arm <- relevel(factor(d$arm), reference)
  d$subject_id <- factor(d$subject_id)
  d
}

growth_fits <- function(name, d) {
  fits <- list(); fixed <- list()
  for (method in c("REML", "ML")) for (structure in c("intercept", "slope")) {
    f <- if (structure == "slope") hamd17 ~ arm * visit + (visit | subject_id) else hamd17 ~ arm * visit + (1 | subject_id)
    t0 <- proc.time()[["elapsed"]]
    fb <- fit_best(f, d, method == "REML")
    m <- fb$model
    sat <- coef_table(m, "Satterthwaite")
    kr <- if (method == "REML") coef_table(m, "Kenward-Roger") else list(co = NULL, warnings = character(0))
    elapsed <- proc.time()[["elapsed"]] - t0
    chk <- check_optimum(f, d, method == "REML", m, seed_of(name, method, structure))
    th <- getME(m, "theta"); diag_th <- th[getME(m, "lower") == 0]
    ll <- logLik(m)
    vi <- vc_get(m, "subject_id", "(Intercept)"); vs <- vc_get(m, "subject_id", "visit")
    cv <- vc_get(m, "subject_id", "(Intercept)", "visit")
    grad <- m@optinfo$derivs$gradient
    fits[[length(fits) + 1]] <- data.frame(
      dataset = name, method = method, structure = structure,
      loglik = as.numeric(ll), loglik_bobyqa = fb$loglik_each[["bobyqa"]],
      loglik_nelder_mead = fb$loglik_each[["Nelder_Mead"]], optimizer = fb$winner,
      loglik_optimizer_diff = abs(diff(fb$loglik_each)),
      loglik_check = chk$loglik_check, check_gap = chk$gap, theta_check = chk$theta_check,
      minus2loglik = -2 * as.numeric(ll), n_params = attr(ll, "df"),
      var_intercept = vi, var_slope = vs, cov_intercept_slope = cv,
      corr_intercept_slope = if (is.na(cv)) NA_real_ else cv / sqrt(vi * vs),
      var_residual = sigma(m)^2, theta = paste(sprintf("%.15g", th), collapse = ";"),
      min_diag_theta = min(diag_th), is_singular = isSingular(m),
      n_obs = nobs(m), n_subjects = ngrps(m)[["subject_id"]],
      max_abs_gradient = if (is.null(grad)) NA_real_ else max(abs(grad)),
      warnings = paste(fb$warnings, collapse = " | "),
      warnings_other_optimizer = paste(fb$warnings_other, collapse = " | "),
      warnings_satterthwaite = paste(sat$warnings, collapse = " | "),
      warnings_kr = paste(kr$warnings, collapse = " | "),
      seconds = elapsed)
    co <- sat$co
    if (inherits(co, "error")) stop(name, ": Satterthwaite summary failed: ", conditionMessage(co))
    fx <- data.frame(dataset = name, method = method, structure = structure, term = rownames(co),
                     term_std = std_terms(rownames(co), levels(d$arm)),
                     estimate = co[, "Estimate"], se = co[, "Std. Error"], df_satterthwaite = co[, "df"],
                     t = co[, "t value"], p = co[, "Pr(>|t|)"],
                     se_kr = NA_real_, df_kr = NA_real_, t_kr = NA_real_, p_kr = NA_real_)
    fx$term_project <- project_terms(fx$term_std)
    kr_fallback <- any(grepl("Unable to compute Kenward-Roger", kr$warnings))   # lmerTest silently
    if (!is.null(kr$co) && !inherits(kr$co, "error") && !kr_fallback) {         # used Satterthwaite
      k <- kr$co[fx$term, , drop = FALSE]
      fx$se_kr <- k[, "Std. Error"]; fx$df_kr <- k[, "df"]; fx$t_kr <- k[, "t value"]; fx$p_kr <- k[, "Pr(>|t|)"]
    } else if (inherits(kr$co, "error")) {
      fits[[length(fits)]]$warnings_kr <- paste("error:", conditionMessage(kr$co))
    }
    fixed[[length(fixed) + 1]] <- fx
  }
  list(fits = do.call(rbind, fits), fixed = do.call(rbind, fixed))
}

nested_fits <- function(name, d, group_arm = "PeGT") {
  # d: raw rows (subject_id, arm, visit, hamd17, therapy_group), reference TAU
  base <- d[d$visit == 0 & !is.na(d$hamd17), c("subject_id", "hamd17")]; names(base)[2] <- "baseline"
  post <- merge(d[d$visit != 0 & !is.na(d$hamd17), ], base, by = "subject_id")
  post$arm <- relevel(factor(post$arm), "TAU")
  post$pegt <- as.numeric(post$arm == group_arm)
  post$tgroup <- factor(ifelse(post$arm == group_arm, paste0("group_", post$therapy_group), paste0("self_", post$subject_id)))
  post$subject_id <- factor(post$subject_id)
  fits <- list(); fixed <- list()
  for (structure in c("nested", "subject_only")) {
    f <- if (structure == "nested") hamd17 ~ baseline + arm * visit + (1 | subject_id) + (0 + pegt | tgroup) else
      hamd17 ~ baseline + arm * visit + (1 | subject_id)
    fb <- fit_best(f, post, TRUE)
    m <- fb$model
    sat <- coef_table(m, "Satterthwaite")
    chk <- check_optimum(f, post, TRUE, m, seed_of(name, structure))
    th <- getME(m, "theta")
    fits[[length(fits) + 1]] <- data.frame(
      dataset = name, method = "REML", structure = structure, loglik = as.numeric(logLik(m)),
      loglik_bobyqa = fb$loglik_each[["bobyqa"]], loglik_nelder_mead = fb$loglik_each[["Nelder_Mead"]],
      optimizer = fb$winner, loglik_optimizer_diff = abs(diff(fb$loglik_each)),
      loglik_check = chk$loglik_check, check_gap = chk$gap, theta_check = chk$theta_check,
      var_subject = vc_get(m, "subject_id", "(Intercept)"),
      var_group = if (structure == "nested") vc_get(m, "tgroup", "pegt") else NA_real_,
      var_residual = sigma(m)^2, theta = paste(sprintf("%.15g", th), collapse = ";"),
      is_singular = isSingular(m), n_obs = nobs(m), n_subjects = nlevels(post$subject_id),
      n_therapy_groups = length(unique(post$therapy_group[post$arm == group_arm])),
      n_tgroup_levels = nlevels(post$tgroup),
      warnings = paste(fb$warnings, collapse = " | "),
      warnings_other_optimizer = paste(fb$warnings_other, collapse = " | "),
      warnings_satterthwaite = paste(sat$warnings, collapse = " | "))
    co <- sat$co
    fx <- data.frame(dataset = name, method = "REML", structure = structure, term = rownames(co),
                     term_std = std_terms(rownames(co), levels(post$arm)),
                     estimate = co[, "Estimate"], se = co[, "Std. Error"], df_satterthwaite = co[, "df"],
                     t = co[, "t value"], p = co[, "Pr(>|t|)"])
    fx$term_project <- project_terms(fx$term_std)
    fixed[[length(fixed) + 1]] <- fx
  }
  list(fits = do.call(rbind, fits), fixed = do.call(rbind, fixed))
}

run_all <- function(items, fun, prefix) {
  fits <- list(); fixed <- list()
  for (nm in names(items)) {
    t0 <- proc.time()[["elapsed"]]
    r <- fun(nm, items[[nm]])
    fits[[nm]] <- r$fits; fixed[[nm]] <- r$fixed
    say("%s %s: %.1f s", prefix, nm, proc.time()[["elapsed"]] - t0)
  }
  list(fits = do.call(rbind, fits), fixed = do.call(rbind, fixed))
}

# ---- battery ---------------------------------------------------------------------------------------
if ("battery" %in% parts) {
  files <- sort(Sys.glob("data/b*.csv"))
  items <- setNames(lapply(files, function(f) prepare(read_battery(f), "TAU")), sub("\\.csv$", "", basename(files)))
  r <- run_all(items, growth_fits, "battery")
  write_full(r$fits, "battery_fits.csv"); write_full(r$fixed, "battery_fixed.csv")
}

# ---- external trials and the project's trial -----------------------------------------------------
if ("external" %in% parts) {
  dir.create("external_data", showWarnings = FALSE)
  ext <- list()
  r <- read.csv(file.path(ext_dir, "riesby.csv"))
  ext$riesby <- list(data.frame(subject_id = r$id, arm = as.character(r$endog), visit = r$week, hamd17 = r$hamd), "0")
  a <- read.csv(file.path(ext_dir, "antidepressant_dia.csv"))
  wk <- c(`4` = 1, `5` = 2, `6` = 4, `7` = 6)
  a_post <- data.frame(subject_id = a$PATIENT, arm = a$THERAPY, visit = unname(wk[as.character(a$VISIT)]), hamd17 = a$HAMDTL17)
  a_base <- unique(data.frame(subject_id = a$PATIENT, arm = a$THERAPY, visit = 0, hamd17 = a$BASVAL))
  stopifnot(!anyDuplicated(a_base$subject_id))
  ext$antidepressant_dia <- list(rbind(a_base, a_post), "PLACEBO")
  b <- read.csv(file.path(ext_dir, "btheb_long.csv"))
  b_base <- unique(data.frame(subject_id = b$subject, arm = b$treatment, visit = 0, hamd17 = b$bdi.pre))
  stopifnot(!anyDuplicated(b_base$subject_id))
  ext$btheb <- list(rbind(b_base, data.frame(subject_id = b$subject, arm = b$treatment, visit = b$time, hamd17 = b$bdi)), "TAU")
  cl <- read.csv(file.path(ext_dir, "claus_2020.csv"))
  ext$claus_2020 <- list(data.frame(subject_id = cl$id, arm = cl$treatment, visit = cl$time - 1, hamd17 = cl$hamd), "TAU")
  s <- read.csv("../response/synthetic_trial.csv")
  ext$synthetic_trial <- list(data.frame(subject_id = s$subject_id, arm = s$arm, visit = s$visit, hamd17 = s$hamd17), "TAU")
  for (nm in names(ext)) {   # the long files the models were fitted on (score column named hamd17)
    x <- ext[[nm]][[1]]; x <- x[order(x$subject_id, x$visit), ]
    write.csv(x, file.path("external_data", paste0(nm, ".csv")), row.names = FALSE, na = "", quote = FALSE)
  }
  items <- lapply(ext, function(e) prepare(e[[1]], e[[2]]))
  r <- run_all(items, growth_fits, "external")
  write_full(r$fits, "external_fits.csv"); write_full(r$fixed, "external_fixed.csv")
}

# ---- partially nested model -------------------------------------------------------------------------
if ("nested" %in% parts) {
  files <- sort(Sys.glob("data/b*.csv"))
  raw <- setNames(lapply(files, read_battery), sub("\\.csv$", "", basename(files)))
  raw <- raw[vapply(raw, function(d) "therapy_group" %in% names(d), TRUE)]
  s <- read.csv("../response/synthetic_trial.csv", colClasses = c(subject_id = "character"))
  raw$synthetic_trial <- s[, c("subject_id", "arm", "visit", "hamd17", "therapy_group")]
  r <- run_all(raw, nested_fits, "nested")
  write_full(r$fits, "nested_fits.csv"); write_full(r$fixed, "nested_fixed.csv")
}
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
