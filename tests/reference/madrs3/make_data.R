# Simulated three-arm MADRS trial in analysis-data (ADaM-like) shape, for the design-file
# acceptance path of ipt-outcomes. Run here: Rscript make_data.R   (R 4.2.2, base R only)
# Writes madrs3.csv (baseline as the row at AVISITN 10) and madrs3_basecol.csv (the same rows
# plus BASE, the subject's baseline, on every row; the baseline record kept).
# Design: 3 arms x 60 subjects (PBO, LOW = 10 mg, HIGH = 20 mg), visits AVISITN 10/20/30/40/50 =
# weeks 0/2/4/8/12, AVAL = MADRS total (whole numbers, 0-60; baseline 22-50), 4 sites.
# Planned features (all checked at the end of this script):
#  - mean change at week 12 about -11 (PBO), -12.5 (LOW), -17 (HIGH), with subject-level
#    heterogeneity of response and correlated residuals;
#  - ~20% monotone dropout (more on placebo); half of the dropouts have their missed visits as
#    ABSENT rows, the other half as rows with an empty AVAL; two dropouts leave right after
#    baseline (one of each kind: a subject with a baseline and nothing after it);
#  - six intermittent gaps (one missed middle visit, later visits observed), absent or empty;
#  - response boundary: scores of exactly baseline/2 (improvement exactly 0.50, even baselines),
#    at week 12 and earlier, including a dropout whose LAST observed score is on the boundary
#    (LOCF carries it); remission boundary: scores of exactly 10 at week 12 and earlier;
#  - two subjects without a baseline score (one with no baseline row, one with an empty AVAL at
#    baseline) but with post-baseline scores: out of every change-based analysis, in the LMM.
set.seed(20240612)
arms <- c("PBO", "LOW", "HIGH"); n_arm <- 60; N <- 3 * n_arm
visits <- c(10, 20, 30, 40, 50); weeks <- c(0, 2, 4, 8, 12)
g <- (1 - exp(-weeks / 4)) / (1 - exp(-3))              # share of the week-12 change reached
delta <- c(PBO = -11, LOW = -12.5, HIGH = -17)          # mean change at week 12

arm <- sample(rep(arms, n_arm))
site <- sample(101:104, N, replace = TRUE, prob = c(0.3, 0.3, 0.25, 0.15))
id <- sprintf("STUDY01-%d-%04d", site, seq_len(N))
age <- pmin(pmax(round(rnorm(N, 43, 12)), 18), 75)
sex <- ifelse(runif(N) < 0.62, "F", "M")
base <- pmin(pmax(round(rnorm(N, 31, 5)), 22), 50)

s_i <- rnorm(N, 0, 6)                                     # individual response (scales the curve)
b_i <- rnorm(N, 0, 2.5)                                   # post-baseline level shift
Y <- matrix(NA_real_, N, 5)
for (i in seq_len(N)) {
  e <- as.numeric(arima.sim(list(ar = 0.4), 4, sd = 3))   # serially correlated noise, weeks 2-12
  mu <- base[i] + (delta[arm[i]] * base[i] / 31 + s_i[i]) * g[-1] + b_i[i]
  Y[i, ] <- c(base[i], pmin(pmax(round(mu + e), 0), 60))
}

# ---- boundaries (forced on completers chosen at random; whole numbers, exact in binary) ----------
pick <- function(cond, k) { w <- which(cond); w[sample.int(length(w), k)] }
used <- integer(0)
resp_wk12 <- unlist(lapply(arms, function(a) pick(arm == a & base %% 2 == 0, 2)))  # 50% exactly at week 12
Y[resp_wk12, 5] <- base[resp_wk12] / 2; used <- c(used, resp_wk12)
resp_early <- pick(base %% 2 == 0 & !seq_len(N) %in% used, 3)                      # at weeks 4, 8, 8
Y[resp_early[1], 3] <- base[resp_early[1]] / 2; Y[resp_early[2:3], 4] <- base[resp_early[2:3]] / 2
used <- c(used, resp_early)
rem_wk12 <- unlist(lapply(arms, function(a) pick(arm == a & !seq_len(N) %in% used, 2)))  # MADRS 10 at week 12
Y[rem_wk12, 5] <- 10; used <- c(used, rem_wk12)
rem_early <- pick(!seq_len(N) %in% used, 2)                                         # at weeks 4 and 8
Y[rem_early[1], 3] <- 10; Y[rem_early[2], 4] <- 10; used <- c(used, rem_early)

# ---- missingness -----------------------------------------------------------------------------------
# Each row gets a status: "obs", "absent" (no row) or "empty" (row, AVAL missing)
status <- matrix("obs", N, 5)
p_drop <- c(PBO = 0.27, LOW = 0.20, HIGH = 0.14)
drop <- which(runif(N) < p_drop[arm] & !seq_len(N) %in% used)
last <- sample(2:4, length(drop), replace = TRUE, prob = c(0.35, 0.35, 0.30))       # last visit seen
# two leave right after baseline, one a dropout whose last score (week 8) is exactly baseline/2
last[1:2] <- 1
locf_b <- pick(base %% 2 == 0 & !seq_len(N) %in% c(used, drop), 1)
Y[locf_b, 4] <- base[locf_b] / 2
drop <- c(drop, locf_b); last <- c(last, 4)
kind <- rep(c("absent", "empty"), length.out = length(drop))
for (j in seq_along(drop)) status[drop[j], (last[j] + 1):5] <- kind[j]
gaps <- pick(!seq_len(N) %in% c(used, drop), 6)                                      # intermittent
for (j in seq_along(gaps)) status[gaps[j], 1 + j %% 3 + 1] <- c("absent", "empty")[1 + j %% 2]
nobase <- pick(!seq_len(N) %in% c(used, drop, gaps), 2)                             # no baseline score
status[nobase[1], 1] <- "absent"; status[nobase[2], 1] <- "empty"

rows <- NULL
for (i in seq_len(N)) for (v in 1:5) {
  if (status[i, v] == "absent") next
  rows <- rbind(rows, data.frame(USUBJID = id[i], TRT01P = arm[i], AVISITN = visits[v],
                                 AVAL = if (status[i, v] == "obs") Y[i, v] else NA,
                                 AGE = age[i], SEX = sex[i], SITEID = site[i]))
}
rows <- rows[order(rows$USUBJID, rows$AVISITN), ]
write.csv(rows, "madrs3.csv", row.names = FALSE, na = "", quote = FALSE)

bl <- rows[rows$AVISITN == 10 & !is.na(rows$AVAL), c("USUBJID", "AVAL")]
bc <- rows; bc$BASE <- bl$AVAL[match(bc$USUBJID, bl$USUBJID)]
bc <- bc[, c("USUBJID", "TRT01P", "AVISITN", "AVAL", "BASE", "AGE", "SEX", "SITEID")]
write.csv(bc, "madrs3_basecol.csv", row.names = FALSE, na = "", quote = FALSE)

# ---- checks -----------------------------------------------------------------------------------------
d <- read.csv("madrs3.csv")
stopifnot(all(d$AVAL[!is.na(d$AVAL)] %% 1 == 0), all(d$AVAL >= 0 & d$AVAL <= 60, na.rm = TRUE),
          all(d$AVAL[d$AVISITN == 10] >= 22 & d$AVAL[d$AVISITN == 10] <= 50, na.rm = TRUE),
          length(unique(d$USUBJID)) == N, !anyDuplicated(d[, c("USUBJID", "AVISITN")]))
hasb <- unique(d$USUBJID[d$AVISITN == 10 & !is.na(d$AVAL)])
cat("subjects per arm:", table(factor(arm, arms)), " without baseline:", N - length(hasb), "\n")
cat("dropouts (monotone):", length(drop), sprintf("(%.0f%%)", 100 * length(drop) / N), "per arm:",
    table(factor(arm[drop], arms)), " absent/empty:", table(kind), "\n")
w <- merge(d[d$AVISITN > 10 & !is.na(d$AVAL), ], setNames(d[d$AVISITN == 10 & !is.na(d$AVAL), c("USUBJID", "AVAL")], c("USUBJID", "B")))
cat("scores at exactly 50% improvement:", sum((w$B - w$AVAL) / w$B == 0.5),
    " at exactly MADRS 10:", sum(w$AVAL == 10), "\n")
print(aggregate(cbind(change = AVAL - B) ~ TRT01P + AVISITN, w, mean))
