# Timing oracle for `make bench` (not a dependency): R mmrm on a long score file, whole process,
# as benchmarks/run.py times `ipt-outcomes mmrm`: read the CSV, derive change from baseline, fit
# chg ~ visit + arm:visit + base:visit + us(visit | subject) by REML, LS means and arm - TAU
# contrasts per visit (emmeans), write the contrasts.
# Usage: Rscript mmrm_fit.R FILE satterthwaite|kenward-roger
suppressMessages({library(mmrm); library(emmeans)})
args <- commandArgs(TRUE)
d <- read.csv(args[1])
base <- d[d$visit == 0 & !is.na(d$hamd17), c("subject_id", "hamd17")]
names(base)[2] <- "base"
x <- merge(d[d$visit != 0 & !is.na(d$hamd17), ], base, by = "subject_id")
x$chg <- x$hamd17 - x$base
x$visit <- factor(x$visit)
x$arm <- relevel(factor(x$arm), "TAU")
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
