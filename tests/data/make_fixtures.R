# Binary fixtures for tests/test_readers.py that Python cannot write itself.
# Run in this folder: Rscript make_fixtures.R   (R 4.2.2, haven 2.5.1; haven::write_sas is
# deprecated but writes a readable .sas7bdat, which is all a reader test needs)
suppressMessages(library(haven))
x <- data.frame(
  subject_id = c("P1", "P1", "P2", "P2"),
  arm = c("IPT", "IPT", "TAU", "TAU"),
  visit = c(0, 3, 0, 3),
  hamd17 = c(20, 9, 18, NA)
)
suppressWarnings(write_sas(x, "tiny.sas7bdat"))
