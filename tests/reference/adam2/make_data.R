# Simulated three-arm trial in analysis-data (ADaM BDS) shape with TWO instruments in one long
# file, for the instruments path of ipt-outcomes (issue 24). Run here: Rscript make_data.R
# (R 4.2.2, base R only). Writes adam2.csv.
# Columns: USUBJID, TRT01P, PARAMCD, PARAM, AVISIT (text codes), AVISITN, AVAL, BASE, CHG,
# ABLFL, ANL01FL, AGE, SEX.
#  - PARAMCD "HAMD17": HAM-D 17 total (whole numbers 0-52, lower is better);
#    PARAMCD "WBMEAN": a well-being mean of 7 items scored 1-5, reported to 2 decimals
#    (continuous, 1-5, higher is better).
#  - Arms PLACEBO, CBT, "CBT + SSRI" (50 each); visits SCREENING (week -1), BASELINE, WEEK 2,
#    WEEK 4, WEEK 8, WEEK 12.
#  - ABLFL = "Y" marks the baseline record: the BASELINE record, except for 6 subjects whose
#    BASELINE assessment is missing (3 with an empty BASELINE row, 3 without one), whose
#    SCREENING record is the baseline (ADaM: last non-missing value before treatment).
#    Other SCREENING records have ANL01FL empty (not analysed).
#  - ANL01FL = "N" on 12 repeated assessments (a second record at the same visit with another
#    value): analysing them would duplicate visits; only "Y" rows are analysed.
#  - BASE and CHG are the ADaM derivations (unmapped: kept and ignored by ipt-outcomes).
#  - Monotone dropout (~18%, more on placebo), absent or empty rows; 5 intermittent gaps; 2
#    subjects without any baseline record (no ABLFL = "Y"): out of change-based analyses.
#  - HAM-D boundaries: scores of exactly baseline / 2 (even baselines) and of exactly 7.
set.seed(20250117)
arms <- c("PLACEBO", "CBT", "CBT + SSRI"); n_arm <- 50; N <- 3 * n_arm
codes <- c("SCREENING", "BASELINE", "WEEK 2", "WEEK 4", "WEEK 8", "WEEK 12")
weeks <- c(-1, 0, 2, 4, 8, 12)
g <- c(0, 0, (1 - exp(-weeks[3:6] / 4)) / (1 - exp(-3)))
arm <- sample(rep(arms, n_arm))
id <- sprintf("ADAM2-%03d", seq_len(N))
age <- pmin(pmax(round(rnorm(N, 41, 11)), 18), 70)
sex <- ifelse(runif(N) < 0.6, "F", "M")
# HAM-D: baseline 16-34, mean change at week 12 -8 / -11 / -14
dh <- c(PLACEBO = -8, CBT = -11, `CBT + SSRI` = -14)
hb <- pmin(pmax(round(rnorm(N, 23, 4)), 16), 34)
H <- matrix(NA_real_, N, 6)
# well-being: baseline 1.4-3.6, mean change at week 12 +0.5 / +0.8 / +1.0
dw <- c(PLACEBO = 0.5, CBT = 0.8, `CBT + SSRI` = 1.0)
wb <- pmin(pmax(rnorm(N, 2.4, 0.45), 1.4), 3.6)
W <- matrix(NA_real_, N, 6)
s_h <- rnorm(N, 0, 4); s_w <- -0.06 * s_h + rnorm(N, 0, 0.25)
for (i in seq_len(N)) {
  eh <- as.numeric(arima.sim(list(ar = 0.4), 4, sd = 2.5))
  H[i, ] <- c(pmin(pmax(hb[i] + round(rnorm(1, 1, 1.5)), 0), 52), hb[i],
              pmin(pmax(round(hb[i] + (dh[arm[i]] + s_h[i]) * g[3:6] + eh), 0), 52))
  ew <- as.numeric(arima.sim(list(ar = 0.4), 4, sd = 0.2))
  W[i, ] <- round(c(wb[i] + rnorm(1, -0.05, 0.15), wb[i],
                    pmin(pmax(wb[i] + (dw[arm[i]] + s_w[i]) * g[3:6] + ew, 1), 5)), 2)
}
W[, 1] <- pmin(pmax(W[, 1], 1), 5)
# HAM-D boundaries on subjects with even baselines: exactly 50% at weeks 12 and 4, exactly 7
pick <- function(cond, k) { w <- which(cond); w[sample.int(length(w), k)] }
b50 <- pick(hb %% 2 == 0, 6); H[b50[1:4], 6] <- hb[b50[1:4]] / 2; H[b50[5:6], 4] <- hb[b50[5:6]] / 2
r7 <- pick(!seq_len(N) %in% b50, 4); H[r7, 6] <- 7
used <- c(b50, r7)
# status per subject x visit x param: "obs", "absent" (no row), "empty" (row, AVAL missing)
status <- array("obs", c(N, 6, 2))
p_drop <- c(PLACEBO = 0.26, CBT = 0.16, `CBT + SSRI` = 0.12)
drop <- which(runif(N) < p_drop[arm] & !seq_len(N) %in% used)
last <- sample(3:5, length(drop), replace = TRUE)
kind <- rep(c("absent", "empty"), length.out = length(drop))
for (j in seq_along(drop)) status[drop[j], (last[j] + 1):6, ] <- kind[j]
gaps <- pick(!seq_len(N) %in% c(used, drop), 5)
for (j in seq_along(gaps)) status[gaps[j], 3 + j %% 3, 1 + j %% 2] <- c("absent", "empty")[1 + j %% 2]
scr_base <- pick(!seq_len(N) %in% c(used, drop, gaps), 6)     # baseline from the screening record
status[scr_base[1:3], 2, ] <- "empty"; status[scr_base[4:6], 2, ] <- "absent"
nobase <- pick(!seq_len(N) %in% c(used, drop, gaps, scr_base), 2)  # no baseline at all
status[nobase, 1:2, ] <- "absent"
repeats <- pick(!seq_len(N) %in% c(nobase), 12)              # "N" repeated assessments
rep_visit <- sample(3:6, 12, replace = TRUE)

rows <- list()
params <- list(HAMD17 = list(Y = H, name = "HAM-D 17 total score"),
               WBMEAN = list(Y = W, name = "Well-being mean item score"))
for (i in seq_len(N)) for (p in 1:2) {
  Y <- params[[p]]$Y
  bl_visit <- if (i %in% scr_base) 1 else 2
  base <- if (i %in% nobase) NA else Y[i, bl_visit]
  for (v in 1:6) {
    st <- status[i, v, p]
    if (st == "absent") next
    val <- if (st == "obs") Y[i, v] else NA
    ablfl <- if (!(i %in% nobase) && v == bl_visit) "Y" else ""
    anl <- if (v == 1 && ablfl != "Y") "" else "Y"
    rows[[length(rows) + 1]] <- data.frame(USUBJID = id[i], TRT01P = arm[i],
      PARAMCD = names(params)[p], PARAM = params[[p]]$name, AVISIT = codes[v], AVISITN = weeks[v],
      AVAL = val, BASE = base, CHG = if (v > 2) val - base else NA, ABLFL = ablfl, ANL01FL = anl,
      AGE = age[i], SEX = sex[i])
    k <- which(repeats == i & rep_visit == v)
    if (length(k) && st == "obs") {   # a repeated assessment at the same visit, not analysed
      rv <- if (p == 1) min(52, Y[i, v] + 5) else min(5, round(Y[i, v] + 0.4, 2))
      rows[[length(rows) + 1]] <- data.frame(USUBJID = id[i], TRT01P = arm[i],
        PARAMCD = names(params)[p], PARAM = params[[p]]$name, AVISIT = codes[v], AVISITN = weeks[v],
        AVAL = rv, BASE = base, CHG = rv - base, ABLFL = "", ANL01FL = "N", AGE = age[i], SEX = sex[i])
    }
  }
}
d <- do.call(rbind, rows)
d <- d[order(d$PARAMCD, d$USUBJID, d$AVISITN), ]
write.csv(d, "adam2.csv", row.names = FALSE, na = "")
cat("rows", nrow(d), "subjects", length(unique(d$USUBJID)), "\n")
print(table(d$PARAMCD, d$ANL01FL)); print(table(d$PARAMCD, d$ABLFL))
print(table(d$AVISIT[d$ABLFL == "Y"]))
x <- d[d$PARAMCD == "HAMD17" & d$AVISIT == "WEEK 12" & d$ANL01FL == "Y" & !is.na(d$AVAL), ]
cat("HAM-D week 12 boundaries: 50%:", sum(x$AVAL * 2 == x$BASE, na.rm = TRUE), " score 7:", sum(x$AVAL == 7), "\n")
