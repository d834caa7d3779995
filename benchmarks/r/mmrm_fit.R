# Timing oracle for `make bench` (not a dependency): R mmrm on a long score file, whole process,
# as benchmarks/run.py times `ipt-outcomes mmrm`: read the CSV, derive change from baseline, fit
# chg ~ visit + arm:visit + base:visit + us(visit | subject) by REML, LS means and arm - reference
# contrasts per visit (emmeans), write the contrasts.
# Usage: Rscript mmrm_fit.R FILE satterthwaite|kenward-roger [OUTCOME [BASELINE_COLUMN [REFERENCE]]]
#   OUTCOME defaults to hamd17; without BASELINE_COLUMN (or with "-") the baseline is the row at
#   visit 0 (the project's layout), else that column of every row; REFERENCE defaults to TAU.
suppressMessages({library(mmrm); library(emmeans)})
args <- commandArgs(TRUE)
outcome <- if (length(args) >= 3) args[3] else "hamd17"
base_col <- if (length(args) >= 4 && args[4] != "-") args[4] else NA
reference <- if (length(args) >= 5) args[5] else "TAU"
d <- read.csv(args[1])
d$y <- d[[outcome]]
if (is.na(base_col)) {
  base <- d[d$visit == 0 & !is.na(d$y), c("subject_id", "y")]
  names(base)[2] <- "base"
  x <- merge(d[d$visit != 0 & !is.na(d$y), ], base, by = "subject_id")
} else {
  x <- d[!is.na(d$y), ]
  x$base <- x[[base_col]]
}
x$chg <- x$y - x$base
x$visit <- factor(x$visit)
x$arm <- relevel(factor(x$arm), reference)
x$subject_id <- factor(x$subject_id)
fit <- if (args[2] == "kenward-roger") {
  mmrm(chg ~ visit + arm:visit + base:visit + us(visit | subject_id), data = x,
       method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")
} else {
  mmrm(chg ~ visit + arm:visit + base:visit + us(visit | subject_id), data = x, method = "Satterthwaite")
}
em <- emmeans(fit, ~ arm | visit)
ct <- as.data.frame(summary(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"), infer = c(TRUE, TRUE)))
write.csv(ct, file.path(tempdir(), "contrasts.csv"), row.names = FALSE)
