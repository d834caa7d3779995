# Independent R reference for reliable and clinically significant change (Jacobson & Truax 1991)
# on the Claus, Scherbaum & Bonnet (2020) trial, with R clinicalsignificance (built from source;
# version in sessionInfo_claus.txt). Run here:
#   Rscript make_claus_reference.R /path/to/shared/data/external/claus_2020.csv
# The data are GPL (they ship inside clinicalsignificance) and are NOT copied here: the script
# reads the shared copy and writes only results.
#
# For each instrument (HAM-D and BDI-II: lower is better; WHO-5: higher is better), each
# post-baseline measurement (2, 3, 4; measurement 1 is the baseline) and each cut-off type
# (a, b, c), clinicalsignificance's Jacobson-Truax method, i.e. what
#   cs_combined(data, id, time, outcome, group = treatment, pre = 1, post = v,
#               reliability = r, m_functional = fm, sd_functional = fsd,
#               better_is = "lower" | "higher", rci_method = "JT", cutoff_type = type)
# computes. cs_combined() itself cannot run here: its summary table needs dplyr >= 1.1
# (join_by, .by) and the system's dplyr is 1.0.10. So cs_jt() below makes the same calls
# cs_combined() makes, in its order, to the package's own (internal) functions: .prep_data,
# calc_rci (class cs_jt), calc_cutoff_from_data (JT), .calc_recovered - every number comes
# from the package; only the final joins by id are done here with merge().
# The reliabilities and functional norms below are TEST INPUTS (not claims about the
# instruments): HAM-D 0.789 / BDI-II 0.92 (the registry's published values) and WHO-5 0.85;
# functional mean and SD HAM-D 4 and 4, BDI-II 7 and 6, WHO-5 17 and 4.
# Rates per arm x visit x category with Wilson intervals (prop.test(correct = FALSE)) and
# comparisons PA - TAU of recovered, reliable improvement (recovered or improved) and reliable
# deterioration (deteriorated or harmed): Newcombe hybrid score interval (hand-coded from the
# Wilson limits, as ../response/make_reference.R) and fisher.test.
suppressMessages(library(clinicalsignificance))
args <- commandArgs(trailingOnly = TRUE)
path <- if (length(args)) args[1] else "../../../../shared/data/external/claus_2020.csv"
d <- read.csv(path, stringsAsFactors = FALSE)
INSTR <- list(
  hamd = list(better = "lower", r = 0.789, fm = 4, fsd = 4),
  bdi = list(better = "lower", r = 0.92, fm = 7, fsd = 6),
  who = list(better = "higher", r = 0.85, fm = 17, fsd = 4)
)
CATS <- c("recovered", "improved", "unchanged", "deteriorated", "harmed")
ARMS <- c("PA", "TAU"); REF <- "TAU"
wilson <- function(k, n) as.numeric(prop.test(k, n, correct = FALSE)$conf.int)
cs <- asNamespace("clinicalsignificance")
cs_jt <- function(data, pre, post, r, fm, fsd, better, type) {
  ds <- cs$.prep_data(data, id = id, time = time, outcome = score, group = treatment,
                      pre = pre, post = post, method = "JT")
  class(ds) <- c("cs_jt", class(ds))
  m_pre <- mean(ds$data$pre); sd_pre <- stats::sd(ds$data$pre)
  direction <- if (better == "lower") -1 else 1
  crit <- stats::qnorm(1 - 0.05 / 2)
  rci <- cs$calc_rci(ds, m_pre = m_pre, sd_pre = sd_pre, reliability = r,
                     direction = direction, critical_value = crit)
  cut <- cs$calc_cutoff_from_data(ds, m_clinical = m_pre, sd_clinical = sd_pre,
                                  m_functional = fm, sd_functional = fsd, type = type,
                                  direction = direction)
  a <- cs$.calc_recovered(as.data.frame(ds$data), as.data.frame(cut$data), as.data.frame(rci$data))
  a <- as.data.frame(a)
  a$category <- ifelse(a$recovered, "recovered", ifelse(a$improved, "improved",
                ifelse(a$harmed, "harmed", ifelse(a$deteriorated, "deteriorated", "unchanged"))))
  stopifnot(rowSums(a[, c("recovered", "improved", "unchanged", "deteriorated", "harmed")]) == 1)
  list(data = a, s_diff = rci$s_diff, m = m_pre, sd = sd_pre, cutoff = cut$info$value)
}
subjects <- NULL; criteria <- NULL; rates <- NULL; comps <- NULL
for (inst in names(INSTR)) {
  p <- INSTR[[inst]]
  for (type in c("a", "b", "c")) {
    for (v in 2:4) {
      x <- cs_jt(transform(d, score = d[[inst]]), 1, v, p$r, p$fm, p$fsd, p$better, type)
      a <- x$data
      # results only: the subjects' scores (pre, post, change) are the GPL data, not written
      subjects <- rbind(subjects, data.frame(instrument = inst, cutoff_type = type, visit = v,
        id = a$id, arm = as.character(a$group), rci = a$rci, clinical_pre = a$clinical_pre,
        functional_post = a$functional_post, category = a$category))
      criteria <- rbind(criteria, data.frame(instrument = inst, cutoff_type = type, visit = v,
        n = nrow(a), m_clinical = x$m, sd_clinical = x$sd, s_diff = x$s_diff,
        cutoff = x$cutoff, reliability = p$r))
      for (arm in ARMS) {
        g <- a[a$group == arm, ]
        for (ct in CATS) {
          k <- sum(g$category == ct); n <- nrow(g); w <- wilson(k, n)
          rates <- rbind(rates, data.frame(instrument = inst, cutoff_type = type, visit = v,
            arm = arm, category = ct, n = n, count = k, rate = k / n, ci_low = w[1], ci_high = w[2]))
        }
      }
      outcomes <- list(recovered = "recovered", reliable_improvement = c("recovered", "improved"),
                       reliable_deterioration = c("deteriorated", "harmed"))
      for (o in names(outcomes)) {
        e <- a$category %in% outcomes[[o]]
        a1 <- sum(e[a$group == "PA"]); n1 <- sum(a$group == "PA")
        c2 <- sum(e[a$group == REF]); n2 <- sum(a$group == REF)
        p1 <- a1 / n1; p2 <- c2 / n2; rd <- p1 - p2
        w1 <- wilson(a1, n1); w2 <- wilson(c2, n2)
        comps <- rbind(comps, data.frame(instrument = inst, cutoff_type = type, visit = v,
          arm = "PA", reference = REF, outcome = o, n = n1, events = a1, n_reference = n2,
          events_reference = c2, risk_difference = rd,
          rd_ci_low = rd - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2),
          rd_ci_high = rd + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2),
          p_fisher = fisher.test(matrix(c(a1, c2, n1 - a1, n2 - c2), 2))$p.value))
      }
    }
  }
}
w <- function(x, f) write.csv(x, f, row.names = FALSE)
w(subjects, "claus_subjects.csv"); w(criteria, "claus_criteria.csv")
w(rates, "claus_rates.csv"); w(comps, "claus_comparisons.csv")
writeLines(capture.output(sessionInfo()), "sessionInfo_claus.txt")
cat("subjects:", nrow(subjects), " categories:", paste(names(table(subjects$category)), table(subjects$category)), "\n")
