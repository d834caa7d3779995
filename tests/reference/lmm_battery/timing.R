# Timing of the R reference (to compare the Python implementation's speed later).
# Run here after make_battery.R, on an otherwise idle machine:  Rscript timing.R
# Writes timing.csv: for representative data sets the elapsed seconds of one lme4 fit (REML, random
# slope, bobyqa), of the same fit through lmerTest::lmer (adds the numerical Hessian for
# Satterthwaite df) and of the Kenward-Roger summary (pbkrtest); and the elapsed time of a whole
# `Rscript fit_one.R FILE` process (R start-up, package loading, reading, fit, Satterthwaite table)
# on the largest data set. Median and minimum over `reps` repetitions.
source("battery_lib.R")
par <- read.csv("battery_parameters.csv")
obs <- setNames(par$n_observed, par$dataset)
pick <- unique(c(names(which.min(obs)), names(sort(obs))[ceiling(length(obs) / 2)], "b021", "b045",
                 names(sort(obs))[ceiling(0.9 * length(obs))], names(which.max(obs))))
largest <- names(which.max(obs))
reps <- 5
rows <- list()
for (nm in pick) {
  d <- read.csv(sprintf("data/%s.csv", nm), colClasses = c(subject_id = "character", arm = "character"), na.strings = "")
  d <- d[!is.na(d$hamd17), ]; d$arm <- relevel(factor(d$arm), "TAU"); d$subject_id <- factor(d$subject_id)
  f <- hamd17 ~ arm * visit + (visit | subject_id)
  ctl <- control_for("bobyqa")
  tm <- function(expr) { t0 <- proc.time()[["elapsed"]]; force(expr); proc.time()[["elapsed"]] - t0 }
  t_lme4 <- replicate(reps, tm(suppressWarnings(lme4::lmer(f, data = d, REML = TRUE, control = ctl))))
  t_lt <- replicate(reps, tm(suppressWarnings(lmerTest::lmer(f, data = d, REML = TRUE, control = ctl))))
  m <- suppressWarnings(lmerTest::lmer(f, data = d, REML = TRUE, control = ctl))
  t_kr <- replicate(reps, tm(suppressWarnings(summary(m, ddf = "Kenward-Roger"))))
  for (w in list(list("lme4_fit_reml_slope", t_lme4), list("lmerTest_fit_reml_slope", t_lt),
                 list("kenward_roger_summary", t_kr)))
    rows[[length(rows) + 1]] <- data.frame(dataset = nm, n_obs = nrow(d), n_subjects = nlevels(d$subject_id),
      n_arms = nlevels(d$arm), what = w[[1]], reps = reps, seconds_median = median(w[[2]]), seconds_min = min(w[[2]]))
}
t_proc <- replicate(3, system.time(system2("Rscript", c("fit_one.R", sprintf("data/%s.csv", largest)),
                                           stdout = FALSE, stderr = FALSE))[["elapsed"]])
d <- read.csv(sprintf("data/%s.csv", largest)); d <- d[!is.na(d$hamd17), ]
rows[[length(rows) + 1]] <- data.frame(dataset = largest, n_obs = nrow(d), n_subjects = length(unique(d$subject_id)),
  n_arms = length(unique(d$arm)), what = "rscript_process_fit_one_R", reps = 3,
  seconds_median = median(t_proc), seconds_min = min(t_proc))
out <- do.call(rbind, rows)
out$seconds_median <- round(out$seconds_median, 3); out$seconds_min <- round(out$seconds_min, 3)
out$reps <- as.integer(out$reps)
out$machine <- sprintf("%s; %d cores (shared); R %s", Sys.info()[["machine"]], parallel::detectCores(), getRversion())
write_full(out, "timing.csv")
print(out)
