# Reference for test_mvn_data_augmentation_matches_mice_for_monotone_bivariate_data:
# a bivariate normal sample with y2 missing for the 12 lowest y1 (monotone, MAR), imputed by
# mice "norm" with a very large m; the MI mean of y2, the mean complete-data variance of that
# mean and the between-imputation variance. For monotone data the Bayesian regression of mice
# and MVN data augmentation are the same posterior predictive, so they must agree within
# Monte-Carlo error.
# Run: Rscript mice_monotone.R   (writes monotone_data.csv and mice_monotone.csv)
suppressMessages(library(mice))
set.seed(5); n <- 30
y1 <- rnorm(n, 10, 3); y2 <- y1 + rnorm(n, 0, 2); y2[order(y1)[1:12]] <- NA
d <- data.frame(y1, y2)
write.csv(d, "monotone_data.csv", row.names = FALSE)
M <- 4000
imp <- mice(d, method = "norm", m = M, maxit = 1, seed = 1, printFlag = FALSE)
q <- sapply(seq_len(M), function(j) mean(complete(imp, j)$y2))
u <- sapply(seq_len(M), function(j) var(complete(imp, j)$y2) / n)
write.csv(data.frame(m = M, qbar = mean(q), ubar = mean(u), b = var(q)), "mice_monotone.csv", row.names = FALSE)
