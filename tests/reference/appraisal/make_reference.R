# Independent reference for ipt_outcomes.appraisal (run here: Rscript make_reference.R; R 4.2.2).
# Fragility index (Walsh et al. 2014): flip non-events to events in the arm with fewer events,
# one patient at a time, until fisher.test's two-sided p >= 0.05. Reverse fragility index (Khan et
# al. 2020) for non-significant results: the fewest changes in the arm with fewer events, removing
# or adding events, that make p < 0.05. GRIM: which whole counts k/n round (half up) to P%.
fi <- function(a, n1, c, n2, alpha = 0.05) {
  p <- function(a, c) fisher.test(matrix(c(a, c, n1 - a, n2 - c), 2))$p.value
  p0 <- p(a, c); fewer_a <- a < c || (a == c && n1 <= n2)
  if (p0 < alpha) {
    k <- 0
    repeat {
      if (fewer_a) { if (a >= n1) return(c(0, p0)); a <- a + 1 } else { if (c >= n2) return(c(0, p0)); c <- c + 1 }
      k <- k + 1
      if (p(a, c) >= alpha) return(c(k, p0))
    }
  }
  best <- Inf
  for (step in c(-1, 1)) {
    aa <- a; cc <- c; k <- 0
    repeat {
      if (fewer_a) aa <- aa + step else cc <- cc + step
      if (aa < 0 || aa > n1 || cc < 0 || cc > n2) break
      k <- k + 1
      if (p(aa, cc) < alpha) { best <- min(best, k); break }
    }
  }
  c(if (is.finite(best)) best else 0, p0)
}
cases <- data.frame(a = c(1, 6, 10, 28, 17, 0, 16, 22), n1 = c(100, 120, 50, 36, 28, 20, 38, 36),
                    c = c(10, 18, 20, 21, 14, 8, 14, 21), n2 = c(100, 120, 50, 31, 33, 20, 33, 31))
res <- t(mapply(fi, cases$a, cases$n1, cases$c, cases$n2))
cases$fragility_index <- res[, 1]; cases$p_fisher <- res[, 2]
write.csv(cases, "fragility_reference.csv", row.names = FALSE)
g <- expand.grid(percent = c(61, 42, 76, 68), n = c(25, 27, 28, 31, 32, 33, 34, 36, 38, 42, 46))
g$consistent <- mapply(function(P, n) any(floor(100 * (0:n) / n + 0.5) == P), g$percent, g$n)
write.csv(g, "grim_reference.csv", row.names = FALSE)
