# Independent reference for ipt_outcomes.plan.multiplicity: R's p.adjust (Bonferroni, Holm,
# Hochberg) and graphicalMCP's shortcut procedure for graphs (Bretz et al. 2009), on seeded
# random p-values and graphs, plus the project's own graph (analyses/saloheimo2016.toml).
# Run from this folder: Rscript make_reference.R  (writes p_adjust.csv, graphs.csv, sessionInfo.txt)
suppressPackageStartupMessages(library(graphicalMCP))
set.seed(20261207)
rows <- list()
graphs <- list()
k <- 0
for (case in 1:30) {
  m <- sample(2:8, 1)
  p <- signif(c(runif(m - 2, 0, 0.08), runif(2, 0, 1)), 6)[sample(m)]
  if (case %% 7 == 0) p[sample(m, 1)] <- p[1]  # ties
  for (method in c("bonferroni", "holm", "hochberg")) {
    rows[[length(rows) + 1]] <- data.frame(case = case, method = method, hypothesis = seq_len(m),
                                           p = p, p_adjusted = p.adjust(p, method = method))
  }
  # a random graph: weights on a random subset, rows of transitions summing to <= 1
  w <- runif(m); w[runif(m) < 0.3] <- 0; if (sum(w) == 0) w[1] <- 1
  w <- w / sum(w) * (if (case %% 5 == 0) 0.9 else 1)
  tr <- matrix(runif(m * m), m, m); diag(tr) <- 0
  tr[runif(m * m) < 0.4] <- 0
  tr <- tr / pmax(rowSums(tr), 1e-12) * ifelse(runif(m) < 0.2, 0.5, 1)
  tr[!is.finite(tr)] <- 0
  w <- floor(w * 1e6) / 1e6; tr <- floor(tr * 1e6) / 1e6
  g <- graph_create(w, tr)
  adj <- graph_test_shortcut(g, p, alpha = 0.05)$outputs$adjusted_p
  rows[[length(rows) + 1]] <- data.frame(case = case, method = "graphical", hypothesis = seq_len(m),
                                         p = p, p_adjusted = as.numeric(adj))
  graphs[[length(graphs) + 1]] <- data.frame(case = case, hypothesis = seq_len(m), weight = w,
                                             transitions = apply(tr, 1, paste, collapse = " "))
}
# the project's graph: primary before key secondary (analyses/saloheimo2016.toml)
w <- c(.25, .25, .25, .25, 0, 0, 0, 0)
tr <- rbind(c(0,0,0,0,1,0,0,0), c(0,0,0,0,0,1,0,0), c(0,0,0,0,0,0,1,0), c(0,0,0,0,0,0,0,1),
            c(0,.5,.25,.25,0,0,0,0), c(.5,0,.25,.25,0,0,0,0), c(.25,.25,0,.5,0,0,0,0),
            c(.25,.25,.5,0,0,0,0,0))
for (case in 101:105) {
  p <- signif(runif(8, 0, 0.06), 6)
  adj <- graph_test_shortcut(graph_create(w, tr), p, alpha = 0.05)$outputs$adjusted_p
  rows[[length(rows) + 1]] <- data.frame(case = case, method = "graphical", hypothesis = 1:8,
                                         p = p, p_adjusted = as.numeric(adj))
  graphs[[length(graphs) + 1]] <- data.frame(case = case, hypothesis = 1:8, weight = w,
                                             transitions = apply(tr, 1, paste, collapse = " "))
}
write.csv(do.call(rbind, rows), "p_adjust.csv", row.names = FALSE)
write.csv(do.call(rbind, graphs), "graphs.csv", row.names = FALSE)
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
