# Exact power of the two-arm response comparison by enumerating every outcome of both arms.
# Independent of the Python code: p-values from R's own fisher.test and chisq.test(correct=FALSE);
# a table with no responders or no non-responders at all counts as not significant.
# Run: Rscript exact_power.R > exact_power.csv
scenarios <- data.frame(
  p_ref = c(0.42, 0.42, 0.42, 0.30, 0.10, 0.42),
  p_arm = c(0.61, 0.61, 0.61, 0.50, 0.30, 0.42),
  n     = c(20,   50,   100,  40,   25,   30)
)
alpha <- 0.05
pval <- function(x, y, n, test) {
  tab <- matrix(c(x, n - x, y, n - y), 2, byrow = TRUE)
  if (test == "fisher") return(fisher.test(tab)$p.value)
  if (x + y == 0 || x + y == 2 * n) return(1)
  suppressWarnings(chisq.test(tab, correct = FALSE)$p.value)
}
out <- NULL
for (i in seq_len(nrow(scenarios))) {
  s <- scenarios[i, ]
  for (test in c("chisq", "fisher")) {
    pw <- 0
    for (x in 0:s$n) for (y in 0:s$n) {
      if (pval(x, y, s$n, test) < alpha)
        pw <- pw + dbinom(x, s$n, s$p_ref) * dbinom(y, s$n, s$p_arm)
    }
    out <- rbind(out, data.frame(p_ref = s$p_ref, p_arm = s$p_arm, n_per_arm = s$n,
                                 test = test, alpha = alpha, exact_power = sprintf("%.15f", pw)))
  }
}
write.csv(out, stdout(), row.names = FALSE, quote = FALSE)
cat(sprintf("# %s\n", R.version.string), file = stderr())
