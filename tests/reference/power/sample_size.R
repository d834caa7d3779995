# Normal-approximation sample size for 42% vs 61% (power.prop.test) and one Fisher p-value used
# in a doctest. Run: Rscript sample_size.R > sample_size.txt
r <- power.prop.test(p1 = 0.42, p2 = 0.61, power = 0.80, sig.level = 0.05)
cat(sprintf("power.prop.test n per group: %.4f (ceiling %d)\n", r$n, ceiling(r$n)))
cat(sprintf("fisher.test 1/10 vs 8/10 p: %.6f\n", fisher.test(matrix(c(1, 9, 8, 2), 2, byrow = TRUE))$p.value))
