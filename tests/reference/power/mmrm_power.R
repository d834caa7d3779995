# Reference power for the simulated MMRM contrast in tests/test_power.py.
# Scenario: two arms, complete data, no baseline effect: the MMRM contrast at the last visit is
# then the per-visit ANCOVA contrast (GLS with unstructured covariance and identical regressors
# at every visit reduces to OLS per visit), whose power is that of the two-sample t-test with
# sd = sqrt(Sigma[2, 2]) (df 2n-3 instead of 2n-2: a difference below 0.002 in power here).
# Run: Rscript mmrm_power.R > mmrm_power.csv
cases <- data.frame(n = c(30, 30, 20), delta = c(3, 0, 4), sd = sqrt(36))
cases$power <- mapply(function(n, delta, sd) {
  if (delta == 0) return(0.05)
  power.t.test(n = n, delta = delta, sd = sd, sig.level = 0.05)$power
}, cases$n, cases$delta, cases$sd)
write.csv(cases, stdout(), row.names = FALSE)

# Sample size for 80% power in the delta = 4 scenario (tests/test_power.py,
# test_mmrm_sample_size_search_finds_the_t_test_n): written to mmrm_sample_size.csv.
n80 <- power.t.test(delta = 4, sd = 6, sig.level = 0.05, power = 0.80)$n
write.csv(data.frame(delta = 4, sd = 6, power = 0.80, n = n80), "mmrm_sample_size.csv", row.names = FALSE)
