# Export R mmrm's public example trial `bcva_data` (mmrm is Apache-2.0; the data ship with it)
# as a long score file for `make bench`: one row per subject and visit with the score (baseline
# plus change: best corrected visual acuity, letters read, higher is better) and the baseline as
# a column. Run by benchmarks/run.py into a temporary folder; nothing is committed.
# Usage: Rscript export_bcva.R OUT.csv
suppressMessages(library(mmrm))
d <- mmrm::bcva_data
out <- data.frame(subject_id = as.character(d$USUBJID), arm = d$ARMCD, visit = d$VISITN,
                  bcva = d$BCVA_BL + d$BCVA_CHG, baseline = d$BCVA_BL, race = d$RACE)
write.csv(out, commandArgs(TRUE)[1], row.names = FALSE)
