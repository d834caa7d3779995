# One growth-model fit, start to finish (for timing.R): Rscript fit_one.R FILE
# Loads lme4 + lmerTest, reads FILE, fits hamd17 ~ arm * visit + (visit | subject_id) by REML
# (bobyqa) and prints the fixed effects with Satterthwaite df - the R analogue of
# `ipt-outcomes lmm FILE --method reml --random-slope`.
suppressMessages({library(lme4); library(lmerTest)})
file <- commandArgs(trailingOnly = TRUE)[1]
d <- read.csv(file, colClasses = c(subject_id = "character", arm = "character"), na.strings = "")
d <- d[!is.na(d$hamd17), ]
d$arm <- relevel(factor(d$arm), "TAU"); d$subject_id <- factor(d$subject_id)
m <- lmerTest::lmer(hamd17 ~ arm * visit + (visit | subject_id), data = d, REML = TRUE,
                    control = lmerControl(optimizer = "bobyqa", check.conv.singular = "ignore"))
print(logLik(m))
print(summary(m, ddf = "Satterthwaite")$coefficients)
