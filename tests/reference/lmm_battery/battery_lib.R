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
