# Battery of simulated trials for the random-effects models (ipt_outcomes.lmm).
# Run here: Rscript make_battery.R   (R 4.2.2; base R only)
# Writes data/b001.csv ... data/b120.csv (columns subject_id, arm, visit, hamd17 [, therapy_group];
# readable by `ipt-outcomes lmm FILE` with the default design) and battery_parameters.csv (the
# generating parameters of each data set).
#
# Model: score_ij = round(b0 + a_arm + (b1 + g_arm) t_ij + c t_ij^2 / T + u0_i + u1_i t_ij
#                         [+ v_group(i) if PeGT and t_ij > 0] + e_ij), clipped to 0..52;
#        (u0, u1) ~ N(0, [sd_int^2, r sd_int sd_slope; ., sd_slope^2]) (r = +-1 allowed),
#        e ~ N(0, sd_res^2), v ~ N(0, sd_group^2); baseline (t = 0) is an inclusion criterion:
#        a subject is redrawn until the rounded baseline is >= 10.
# Missing follow-up scores: monotone dropout (a share of subjects stops at a random post-baseline
# visit, possibly right after baseline) and, in some data sets, intermittent missed visits; the
# missing rows are either absent, present with an empty score, or a mix of both.
# Deliberately hard cases: zero slope variance, zero/tiny intercept variance, correlation +-0.99..1,
# zero therapy-group variance, residuals centred within subject (negative intra-class correlation)
# (all give singular lme4 fits in many cases).
options(stringsAsFactors = FALSE)
dir.create("data", showWarnings = FALSE)
unlink(Sys.glob("data/b*.csv"))

schedules <- list(
  even_3 = c(0, 1, 2), even_4 = c(0, 1, 2, 3), even_5 = c(0, 2, 4, 6, 8), even_6 = 0:5,
  even_7 = c(0, 2, 4, 6, 8, 10, 12), even_8 = 0:7,
  uneven_3 = c(0, 4, 12), uneven_4 = c(0, 2, 6, 12), uneven_5 = c(0, 1, 3, 6, 12),
  uneven_6 = c(0, 1, 2, 4, 8, 12), uneven_7 = c(0, 1, 2, 4, 6, 9, 12), uneven_8 = c(0, 1, 2, 3, 6, 9, 12, 24),
  fractional_3 = c(0, 1.5, 4.5), fractional_4 = c(0, 0.5, 1, 2.5), fractional_5 = c(0, 1.5, 3, 6, 12),
  fractional_6 = c(0, 0.25, 0.5, 1, 1.5, 3), fractional_7 = c(0, 0.5, 1.5, 2.5, 3.5, 6, 9.5),
  fractional_8 = c(0, 1.5, 3, 4.5, 6, 9, 12, 18)
)

n_sets <- 126
# scenario of each data set (fixed layout, documented in README.md)
scenario <- c(rep("nested", 20),            # b001-b020: PeGT therapy groups (7 with zero group variance)
              rep("zero_slope", 14),        # b021-b034: slope variance exactly 0
              rep("tiny_intercept", 10),    # b035-b044: intercept variance 0 or tiny
              rep("perfect_corr", 10),      # b045-b054: |correlation| 0.99-1
              rep("small_slope", 10),       # b055-b064: small slope variance
              rep("general", 56),           # b065-b120: everything drawn from wide ranges
              rep("negative_icc", 6))       # b121-b126: no random effects and residuals negatively
                                            #   correlated within subject (centred): singular fits

draw_n <- function() round(exp(runif(1, log(30), log(300))))

make_one <- function(i) {
  seed <- 20240600 + i
  set.seed(seed)
  sc <- scenario[i]
  # ---- design ---------------------------------------------------------------------------------
  n <- draw_n()
  if (i == 65) n <- 30
  if (i == 66) n <- 300
  if (i == 5) n <- 300
  if (sc == "nested") {
    n <- max(n, 60)
    arms <- list(c("TAU", "PeGT"), c("TAU", "PeGT", "IPT"), c("TAU", "IPT", "PeGT", "IPT+MED"))[[sample(3, 1)]]
  } else {
    arms <- c("TAU", "A", "B", "C")[seq_len(sample(2:4, 1))]
  }
  k_arms <- length(arms)
  sched_name <- names(schedules)[sample(length(schedules), 1)]
  if (i == 66) sched_name <- "even_8"
  if (i == 5) sched_name <- "uneven_8"
  visits <- schedules[[sched_name]]
  tmax <- max(visits)
  # allocation
  unequal <- runif(1) < 0.25
  if (unequal) {
    repeat {
      w <- runif(k_arms, 0.5, 2)
      arm <- sample(arms, n, replace = TRUE, prob = w)
      if (all(table(factor(arm, arms)) >= 5)) break
    }
  } else {
    arm <- sample(rep(arms, length.out = n))
  }
  # ---- parameters ---------------------------------------------------------------------------------
  beta0 <- runif(1, 20, 28)
  total_decline <- runif(1, 3, 12)                        # TAU mean change over follow-up
  beta_time <- -total_decline / tmax
  arm_int <- setNames(c(0, rnorm(k_arms - 1, 0, 0.8)), arms)
  arm_slope <- setNames(c(0, -runif(k_arms - 1, 0, 6) / tmax), arms)  # extra decline over follow-up
  curvature <- if (sc == "general" && runif(1) < 0.3) runif(1, 1, 6) else 0   # t^2 / tmax coefficient
  sd_int <- runif(1, 2, 6)
  sd_slope_total <- runif(1, 1, 8)                        # SD of individual change over follow-up
  corr <- runif(1, -0.9, 0.9)
  sd_res <- runif(1, 1.5, 6)
  if (sc == "zero_slope") sd_slope_total <- 0
  if (sc == "tiny_intercept") {
    sd_int <- c(0, 0, 0, 0.01, 0.05, 0.1, 0, 0.02, 0, 0.2)[i - 34]
    if (i %in% c(35, 36)) sd_slope_total <- 0            # no random effects at all
  }
  if (sc == "perfect_corr") corr <- c(1, -1, 0.99, -0.99, 0.995, -0.995, 1, -1, 0.999, -0.999)[i - 44]
  if (sc == "small_slope") sd_slope_total <- runif(1, 0.05, 0.6)
  if (sc == "negative_icc") { sd_int <- 0; sd_slope_total <- 0 }
  if (sc == "general" && runif(1) < 0.3) sd_slope_total <- runif(1, 8, 14)   # large
  sd_slope <- sd_slope_total / tmax
  sd_group <- 0
  if (sc == "nested") sd_group <- if (i %in% c(2, 5, 8, 11, 14, 17, 20)) 0 else runif(1, 1, 4)
  # missingness
  p_drop <- if (runif(1) < 0.15) 0 else runif(1, 0.02, 0.4)
  p_int <- if (runif(1) < 0.6) 0 else runif(1, 0.03, 0.15)
  missing_format <- sample(c("absent", "empty", "mixed"), 1)
  id_style <- sample(c("S%03d", "numeric", "P-%04d"), 1, prob = c(0.5, 0.25, 0.25))
  shuffled <- runif(1) < 0.15

  # ---- therapy groups (PeGT only) -----------------------------------------------------------------
  group <- rep(NA_character_, n)
  n_groups <- 0
  if (sc == "nested") {
    idx <- which(arm == "PeGT"); np <- length(idx)
    kmin <- ceiling(np / 10); kmax <- floor(np / 5)
    k <- if (kmax > kmin) sample(kmin:kmax, 1) else kmin
    sizes <- rep(5, k); extra <- np - 5 * k
    while (extra > 0) { j <- sample(which(sizes < 10), 1); sizes[j] <- sizes[j] + 1; extra <- extra - 1 }
    labels <- sprintf("G%02d", seq_len(k))
    group[idx] <- sample(rep(labels, sizes))
    n_groups <- k
  }
  v_group <- if (n_groups) setNames(rnorm(n_groups, 0, sd_group), sprintf("G%02d", seq_len(n_groups))) else NULL

  # ---- scores ------------------------------------------------------------------------------------------
  L <- matrix(c(sd_int, 0, corr * sd_slope, sqrt(max(0, 1 - corr^2)) * sd_slope), 2, byrow = TRUE)
  rows <- vector("list", n)
  for (s in seq_len(n)) {
    a <- arm[s]
    for (try in 1:1000) {
      z <- rnorm(2); u <- as.vector(L %*% z)
      mu <- beta0 + arm_int[[a]] + (beta_time + arm_slope[[a]]) * visits + curvature * visits^2 / tmax
      e <- rnorm(length(visits), 0, sd_res)
      if (sc == "negative_icc") e <- e - mean(e)          # within-subject correlation -1/(K-1)
      y <- mu + u[1] + u[2] * visits + e
      if (!is.na(group[s])) y <- y + (visits > 0) * v_group[[group[s]]]
      y <- pmin(52, pmax(0, round(y)))
      if (y[1] >= 10) break
    }
    stopifnot(y[1] >= 10)
    # missingness: monotone dropout then intermittent
    miss <- rep(FALSE, length(visits))
    if (runif(1) < p_drop) miss[sample(2:length(visits), 1):length(visits)] <- TRUE
    if (p_int > 0) miss[-1] <- miss[-1] | (runif(length(visits) - 1) < p_int)
    y[miss] <- NA
    rows[[s]] <- data.frame(s = s, arm = a, visit = visits, hamd17 = y, therapy_group = group[s])
  }
  d <- do.call(rbind, rows)
  d$subject_id <- switch(id_style, numeric = as.character(1000 + d$s), sprintf(id_style, d$s))
  missing_rows <- which(is.na(d$hamd17))
  drop <- switch(missing_format, absent = missing_rows, empty = integer(0),
                 mixed = missing_rows[runif(length(missing_rows)) < 0.5])
  if (length(drop)) d <- d[-drop, ]
  if (shuffled) d <- d[sample(nrow(d)), ]
  out <- d[, c("subject_id", "arm", "visit", "hamd17", if (sc == "nested") "therapy_group")]
  file <- sprintf("data/b%03d.csv", i)
  write.csv(out, file, row.names = FALSE, na = "", quote = FALSE)

  data.frame(
    dataset = sprintf("b%03d", i), file = file, scenario = sc, seed = seed,
    n_subjects = n, arms = paste(arms, collapse = ";"), n_arms = k_arms,
    allocation = if (unequal) paste(table(factor(arm, arms)), collapse = ";") else "equal",
    schedule = sched_name, visits = paste(visits, collapse = ";"), n_visits = length(visits),
    beta0 = beta0, beta_time = beta_time,
    arm_intercept = paste(sprintf("%.6g", arm_int), collapse = ";"),
    arm_slope = paste(sprintf("%.6g", arm_slope), collapse = ";"), curvature = curvature,
    sd_intercept = sd_int, sd_slope = sd_slope, corr = corr, sd_residual = sd_res,
    var_intercept = sd_int^2, var_slope = sd_slope^2, cov_intercept_slope = corr * sd_int * sd_slope,
    var_residual = sd_res^2, sd_group = sd_group, var_group = sd_group^2, n_groups = n_groups,
    p_dropout = p_drop, p_intermittent = p_int, missing_format = missing_format,
    id_style = id_style, shuffled = shuffled, n_rows_written = nrow(out),
    n_missing_scores = length(missing_rows), n_empty_cells = sum(is.na(out$hamd17)),
    n_observed = sum(!is.na(out$hamd17))
  )
}

params <- do.call(rbind, lapply(seq_len(n_sets), make_one))
num <- vapply(params, is.double, logical(1))
params[num] <- lapply(params[num], function(x) sprintf("%.15g", x))
write.csv(params, "battery_parameters.csv", row.names = FALSE)
cat(sprintf("%d data sets, %.2f MB\n", n_sets, sum(file.size(Sys.glob("data/b*.csv"))) / 2^20))
