# Reference results for `ipt-outcomes meta` from R metafor (the oracle; never a runtime dependency).
#
# Run from the repository root:  Rscript tests/reference/meta/meta_reference.R
# Reads tests/reference/meta/cases.csv (which file, which rows, which options) and writes, beside
# this script: pooled.csv (every model: overall and per subgroup, each method x test),
# aggregated.csv (the studies as analysed: effect, SE, 95% interval), studies.csv (their weights
# in percent, per method), egger.csv, between.csv (test of subgroup differences),
# default_control.csv and sessionInfo.txt.
#
# Every fit uses tight controls (Fisher scoring to a step of 1e-14 in tau^2, uniroot to 1e-14) so
# that the reference is the optimum itself; default_control.csv records how far metafor's default
# controls (threshold 1e-5, uniroot tol ~1.2e-4) stop from it.

suppressMessages(library(metafor))
options(warn = 1)

here <- "tests/reference/meta"
cases <- read.csv(file.path(here, "cases.csv"), colClasses = "character", na.strings = character())
tight <- list(threshold = 1e-14, tol = 1e-14, maxiter = 100000, tau2.max = 1e6)
methods <- c(reml = "REML", ml = "ML", pm = "PM", dl = "DL")
tests <- c(knha = "knha", z = "z")
MISSING <- "(missing)"

read_case <- function(cs) {
  path <- cs$file
  d <- switch(cs$sep,
    ";" = read.csv2(path, na.strings = "NA", check.names = FALSE, colClasses = "character"),
    "," = read.csv(path, na.strings = "NA", check.names = FALSE, colClasses = "character"),
    tab = read.delim(path, na.strings = "NA", check.names = FALSE, colClasses = "character"))
  if (cs$where_col != "") d <- d[!is.na(d[[cs$where_col]]) & d[[cs$where_col]] == cs$where_value, ]
  if (cs$first_per_study == "TRUE") d <- d[!duplicated(d[[cs$study_col]]), ]
  num <- function(x) as.numeric(sub(",", ".", x, fixed = TRUE))
  out <- data.frame(study = d[[cs$study_col]], yi = num(d[[cs$effect_col]]),
                    sei = num(d[[cs$se_col]]), stringsAsFactors = FALSE)
  if (cs$by != "") {
    lev <- d[[cs$by]]
    lev[is.na(lev) | lev == ""] <- MISSING
    out$level <- lev
  }
  out[!is.na(out$yi) & !is.na(out$sei), ]
}

prepare <- function(d, rho) {
  dat <- escalc(measure = "GEN", yi = d$yi, sei = d$sei, data = d)
  if (!is.na(rho)) dat <- aggregate(dat, cluster = study, rho = rho, struct = "CS")
  dat
}

level_order <- function(x) {
  u <- unique(x[x != MISSING])
  nums <- suppressWarnings(as.numeric(u))
  u <- if (all(!is.na(nums))) u[order(nums)] else sort(u, method = "radix")
  c(u, if (any(x == MISSING)) MISSING)
}

fit_row <- function(dat, method, test) {
  f <- rma(yi, vi, data = dat, method = method, test = test, control = tight)
  free <- f  # the Q-profile interval does not depend on the estimate (and needs tau^2 free)
  if (method %in% c("ML", "REML") && f$tau2 > 0 && f$tau2 < 1e-9) {
    # Fisher scoring nears an optimum on the boundary only geometrically and stops just above it
    # (up to ~5e-13); where the likelihood at tau^2 = 0 is at least as high, 0 is the optimum
    f0 <- rma(yi, vi, data = dat, method = method, test = test, tau2 = 0)
    if (c(logLik(f0)) >= c(logLik(f))) {
      f <- f0
      boundary_refits <<- boundary_refits + 1
    }
  }
  p <- predict(f)
  ci <- if (f$k > 1) tryCatch(confint(free, control = list(tol = 1e-14, maxiter = 100000, tau2.max = 1e6)),
                              error = function(e) NULL) else NULL
  r <- ci$random
  get <- function(row, col) if (is.null(r)) NA_real_ else unname(r[row, col])
  list(fit = f, row = data.frame(
    k = f$k, estimate = c(f$beta), se = f$se, ci_low = f$ci.lb, ci_high = f$ci.ub,
    pi_low = p$pi.lb, pi_high = p$pi.ub, tau2 = f$tau2, i2 = f$I2, h2 = f$H2,
    q = f$QE, q_df = f$k - 1, q_p = f$QEp, statistic = f$zval,
    df = if (is.null(f$ddf) || is.na(f$ddf)) NA_real_ else f$ddf, p = f$pval,
    tau2_ci_low = get("tau^2", "ci.lb"), tau2_ci_high = get("tau^2", "ci.ub"),
    i2_ci_low = get("I^2(%)", "ci.lb"), i2_ci_high = get("I^2(%)", "ci.ub"),
    h2_ci_low = get("H^2", "ci.lb"), h2_ci_high = get("H^2", "ci.ub"),
    test_used = f$test))
}

boundary_refits <- 0
pooled <- list(); studies <- list(); aggregated <- list(); egger <- list(); between <- list()
for (i in seq_len(nrow(cases))) {
  cs <- cases[i, ]
  d <- read_case(cs)
  rho <- if (cs$rho == "") NA_real_ else as.numeric(cs$rho)
  dat <- prepare(d, rho)
  aggregated[[cs$case]] <- data.frame(case = cs$case, study = dat$study, yi = dat$yi,
    sei = sqrt(dat$vi), ci_low = dat$yi - qnorm(0.975) * sqrt(dat$vi),
    ci_high = dat$yi + qnorm(0.975) * sqrt(dat$vi))
  for (m in names(methods)) for (t in names(tests)) {
    o <- fit_row(dat, methods[[m]], tests[[t]])
    pooled[[length(pooled) + 1]] <- cbind(case = cs$case, method = m, test = t, by = "",
                                          subgroup = "", o$row)
    if (t == "knha")  # the weights depend on tau^2 only, not on the test
      studies[[length(studies) + 1]] <- data.frame(case = cs$case, method = m,
                                                   study = dat$study, weight = unname(weights(o$fit)))
    if (m == "reml" && t == "knha") {
      rt <- tryCatch(regtest(o$fit, model = "lm", predictor = "sei"), error = function(e) NULL)
      if (is.null(rt) || o$fit$k < 3) {
        egger[[cs$case]] <- data.frame(case = cs$case, intercept = NA, se = NA, t = NA,
          df = o$fit$k - 2, p = NA, limit_estimate = NA, limit_ci_low = NA, limit_ci_high = NA)
      } else {
        co <- coef(summary(rt$fit))
        egger[[cs$case]] <- data.frame(case = cs$case, intercept = co[2, 1], se = co[2, 2],
          t = rt$zval, df = rt$dfs, p = rt$pval, limit_estimate = rt$est,
          limit_ci_low = rt$ci.lb, limit_ci_high = rt$ci.ub)
      }
    }
    if (cs$by != "") {
      est <- c(); ses <- c()
      for (lev in level_order(d$level)) {
        sub <- prepare(d[d$level == lev, ], rho)
        so <- suppressWarnings(fit_row(sub, methods[[m]], tests[[t]]))
        pooled[[length(pooled) + 1]] <- cbind(case = cs$case, method = m, test = t, by = cs$by,
                                              subgroup = lev, so$row)
        est <- c(est, so$row$estimate); ses <- c(ses, so$row$se)
      }
      ok <- is.finite(ses) & ses > 0
      fe <- rma(est[ok], sei = ses[ok], method = "FE")
      between[[length(between) + 1]] <- data.frame(case = cs$case, method = m, test = t,
                                                   q = fe$QE, df = fe$k - 1, p = fe$QEp)
    }
  }
}

# how far metafor's default controls stop from the optimum (documentation, not a test input)
dflt <- list()
for (i in seq_len(nrow(cases))) {
  cs <- cases[i, ]
  if (!grepl("_agg05$", cs$case)) next
  dat <- prepare(read_case(cs), as.numeric(cs$rho))
  for (m in c("reml", "ml", "pm")) {
    a <- rma(yi, vi, data = dat, method = methods[[m]], test = "knha")
    b <- rma(yi, vi, data = dat, method = methods[[m]], test = "knha", control = tight)
    dflt[[length(dflt) + 1]] <- data.frame(case = cs$case, method = m,
      tau2_default = a$tau2, tau2_tight = b$tau2, estimate_default = c(a$beta),
      estimate_tight = c(b$beta), rel_diff_tau2 = abs(a$tau2 - b$tau2) / b$tau2,
      rel_diff_estimate = abs(c(a$beta) - c(b$beta)) / abs(c(b$beta)),
      rel_diff_se = abs(a$se - b$se) / b$se)
  }
}

wr <- function(x, name) write.csv(do.call(rbind, x), file.path(here, name), row.names = FALSE)
options(digits = 17)
wr(pooled, "pooled.csv"); wr(studies, "studies.csv"); wr(aggregated, "aggregated.csv")
wr(egger, "egger.csv"); wr(between, "between.csv"); wr(dflt, "default_control.csv")
writeLines(capture.output(sessionInfo()), file.path(here, "sessionInfo.txt"))
cat("fits refitted at tau^2 = 0 (boundary optimum):", boundary_refits, "\n")
