# Shared helpers of fit_battery.R and timing.R (source()d; not run on its own).
# A data frame `d` handed to these functions has columns subject_id, arm (factor, reference level
# first), visit (numeric time), hamd17 (score, no NA).
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest)})

OPTIMIZERS <- c("bobyqa", "Nelder_Mead")
control_for <- function(opt) {
  lmerControl(optimizer = opt, optCtrl = list(maxfun = 1e6),
              check.conv.singular = "ignore", check.conv.grad = "warning", check.conv.hess = "warning")
}

# evaluate expr, collecting warnings (muffled) and errors (returned as the value)
capture <- function(expr) {
  warns <- character(0)
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) e),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) invokeRestart("muffleMessage"))
  list(value = value, warnings = unique(gsub("[\r\n]+", " ", warns)))
}

# fit with each optimiser (lmerTest::lmer: lme4 fit + the Hessian for Satterthwaite df); keep the
# one with the larger log-likelihood (ties: the first, bobyqa)
fit_best <- function(formula, data, reml) {
  fits <- lapply(OPTIMIZERS, function(opt)
    capture(lmerTest::lmer(formula, data = data, REML = reml, control = control_for(opt))))
  ll <- vapply(fits, function(f) if (inherits(f$value, "error")) NA_real_ else as.numeric(logLik(f$value)), 0)
  if (all(is.na(ll))) stop("no optimiser succeeded: ", conditionMessage(fits[[1]]$value))
  best <- which.max(ll)
  m <- fits[[best]]$value
  msgs <- c(m@optinfo$conv$lme4$messages, m@optinfo$warnings)
  list(model = m, loglik_each = setNames(ll, OPTIMIZERS), winner = OPTIMIZERS[best],
       warnings = unique(c(fits[[best]]$warnings, unlist(msgs))),
       warnings_other = unlist(lapply(fits[-best], function(f)
         if (inherits(f$value, "error")) paste("error:", conditionMessage(f$value)) else f$warnings)))
}

fmt <- function(x) if (is.double(x)) ifelse(is.na(x), NA_character_, sprintf("%.15g", x)) else x
write_full <- function(df, file) {
  df[] <- lapply(df, fmt)
  write.csv(df, file, row.names = FALSE, na = "")
}

# canonical names: arm[A], visit, arm[A]:visit, (Intercept), baseline; term_project uses `time`
std_terms <- function(terms, arm_levels) {
  out <- terms
  for (a in arm_levels[-1]) {
    out[terms == paste0("arm", a)] <- sprintf("arm[%s]", a)
    out[terms == paste0("arm", a, ":visit")] <- sprintf("arm[%s]:visit", a)
  }
  out
}
project_terms <- function(std) sub("^visit$", "time", sub(":visit$", ":time", std))

vc_get <- function(m, grp, v1, v2 = NULL) {
  vc <- as.data.frame(VarCorr(m))
  second <- if (is.null(v2)) is.na(vc$var2) else vc$var2 %in% v2
  r <- vc[vc$grp == grp & vc$var1 %in% v1 & second, "vcov"]
  if (length(r)) r[1] else NA_real_
}

coef_table <- function(m, ddf) {
  r <- capture(summary(m, ddf = ddf)$coefficients)
  list(co = r$value, warnings = r$warnings)
}

# Independent check that the kept fit is at the (RE)ML optimum: minimise lme4's profiled deviance
# function (devFunOnly = TRUE: -2 logLik, the REML criterion for REML) over theta with minqa::bobyqa
# (rhoend 1e-10) from the kept theta, from lme4's default start and from `n_random` random starts.
# Returns the largest logLik found and its theta; gap = loglik_check - loglik of the kept fit.
check_optimum <- function(formula, data, reml, m, seed, n_random = 3) {
  dev <- lme4::lmer(formula, data = data, REML = reml, devFunOnly = TRUE,
                    control = lmerControl(check.conv.singular = "ignore"))
  lower <- getME(m, "lower"); th <- unname(getME(m, "theta"))
  set.seed(seed)
  starts <- c(list(th, ifelse(lower == 0, 1, 0)),
              lapply(seq_len(n_random), function(k) ifelse(lower == 0, runif(length(lower), 0.05, 3), rnorm(length(lower), 0, 0.5))))
  best <- list(fval = dev(th), par = th)
  for (s in starts) {
    o <- tryCatch(minqa::bobyqa(s, dev, lower = lower, control = list(rhobeg = 0.1, rhoend = 1e-10, maxfun = 1e5)),
                  error = function(e) NULL)
    if (!is.null(o) && is.finite(o$fval) && o$fval < best$fval) best <- list(fval = o$fval, par = o$par)
  }
  list(loglik_check = -best$fval / 2, theta_check = paste(sprintf("%.15g", best$par), collapse = ";"),
       gap = -best$fval / 2 - as.numeric(logLik(m)))
}
seed_of <- function(...) sum(utf8ToInt(paste(...)) * seq_along(utf8ToInt(paste(...)))) %% 100000L
