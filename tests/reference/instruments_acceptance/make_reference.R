# Independent R reference for the issue 24 acceptance trial acc2.csv (make_acc2_data.py), described
# by acc2.toml. Run here: Rscript make_reference.R   (sessionInfo.txt)
# Computed from the raw CSV with the design written out below:
#   rows analysed = ANL01FL == "Y" (DTYPE = LOCF, UNSCHEDULED, repeated, out-of-window and
#   SCREENING rows are not "Y"); instrument rows by PARAMCD; baseline = AVAL of the row flagged
#   ABLFL == "Y"; post-baseline visits WEEK 4/8/12/16 (weeks 4, 8, 12, 16), key WEEK 16.
#   WHO5PCT: 0-100, higher is better, improvement (y - b) / (100 - b), remission y >= 52.
#   HAMDTOT: 0-52, lower is better, improvement (b - y) / b, remission y <= 7.
#   response = improvement >= 0.5.
#  1. response / remission, observed / nri / locf: Wilson by prop.test(correct = FALSE),
#     Newcombe hybrid score RD, Katz RR, Woolf OR, fisher.test.
#  2. MMRM (mmrm): chg ~ visit + arm:visit + base:visit + us(visit | subject), REML, with
#     Kenward-Roger (vcov Kenward-Roger-Linear) and with Satterthwaite (asymptotic vcov);
#     emmeans LS means at the mean baseline and arm - reference.
#  3. Reliable change (Jacobson-Truax) by clinicalsignificance's functions (as cs_combined
#     calls them), cut-offs a, b and c, each post-baseline visit against the baseline.
suppressMessages({library(mmrm); library(emmeans); library(clinicalsignificance)})
z <- qnorm(0.975)
ARMS <- c("Usual care", "IPT + TAU"); REF <- "Usual care"   # reference first for emmeans
VISITS <- c("WEEK 4", "WEEK 8", "WEEK 12", "WEEK 16")
WEEKS <- c(`WEEK 4` = 4, `WEEK 8` = 8, `WEEK 12` = 12, `WEEK 16` = 16)
INSTR <- list(
  WHO5PCT = list(tag = "who5", higher = TRUE, min = 0, max = 100, remit = 52, r = 0.84, fm = 70, fsd = 16),
  HAMDTOT = list(tag = "hamd", higher = FALSE, min = 0, max = 52, remit = 7, r = 0.81, fm = 3, fsd = 3.5)
)
raw <- read.csv("acc2.csv", colClasses = c(ABLFL = "character", ANL01FL = "character"),
                stringsAsFactors = FALSE, na.strings = "")
raw$ABLFL[is.na(raw$ABLFL)] <- ""; raw$ANL01FL[is.na(raw$ANL01FL)] <- ""

prepare <- function(param) {
  d <- raw[raw$PARAMCD == param & raw$ANL01FL == "Y", ]
  subj <- data.frame(subject = unique(d$USUBJID), stringsAsFactors = FALSE)
  subj$arm <- d$TRT01P[match(subj$subject, d$USUBJID)]
  b <- d[d$ABLFL == "Y" & !is.na(d$AVAL), ]
  stopifnot(!any(duplicated(b$USUBJID)))
  subj$base <- b$AVAL[match(subj$subject, b$USUBJID)]
  p <- d[d$AVISIT %in% VISITS, ]
  stopifnot(!any(duplicated(p[, c("USUBJID", "AVISIT")])))
  list(subj = subj, post = data.frame(subject = p$USUBJID, arm = p$TRT01P, visit = p$AVISIT,
                                      score = p$AVAL, stringsAsFactors = FALSE))
}
improvement <- function(b, y, I) if (I$higher) (y - b) / (I$max - b) else (b - y) / (b - I$min)
remitted <- function(y, I) if (I$higher) y >= I$remit else y <= I$remit

outcomes <- function(subj, post, rule, I) {
  subj <- subj[!is.na(subj$base), ]
  post <- post[post$subject %in% subj$subject, ]
  post$base <- subj$base[match(post$subject, subj$subject)]
  if (rule == "observed") {
    o <- post[!is.na(post$score), ]; o$used <- o$score
  } else {
    o <- merge(subj, data.frame(visit = VISITS, stringsAsFactors = FALSE))
    o <- merge(o, post[, c("subject", "visit", "score")], by = c("subject", "visit"), all.x = TRUE)
    o <- o[order(o$subject, match(o$visit, VISITS)), ]
    if (rule == "nri") {
      o$used <- o$score
    } else {
      o$used <- ave(o$score, o$subject, FUN = function(s) {
        last <- NA; for (i in seq_along(s)) { if (!is.na(s[i])) last <- s[i]; s[i] <- last }; s })
      o$used[is.na(o$used)] <- o$base[is.na(o$used)]
    }
  }
  o$responder <- !is.na(o$used) & improvement(o$base, o$used, I) >= 0.5
  o$remitter <- !is.na(o$used) & remitted(o$used, I)
  o
}
wilson <- function(k, n) as.numeric(prop.test(k, n, correct = FALSE)$conf.int)

response_tables <- function(x, I) {
  out <- list()
  for (rule in c("observed", "nri", "locf")) {
    o <- outcomes(x$subj, x$post, rule, I)
    rates <- NULL; comps <- NULL
    for (ep in c("responder", "remitter")) for (v in VISITS) {
      for (a in ARMS) {
        s <- o[o$arm == a & o$visit == v, ]; n <- nrow(s); k <- sum(s[[ep]]); w <- wilson(k, n)
        rates <- rbind(rates, data.frame(endpoint = ep, arm = a, visit = v, n = n, events = k,
                                         rate = k / n, ci_low = w[1], ci_high = w[2]))
      }
      sr <- o[o$arm == REF & o$visit == v, ]; n2 <- nrow(sr); c2 <- sum(sr[[ep]])
      for (a in setdiff(ARMS, REF)) {
        s <- o[o$arm == a & o$visit == v, ]; n1 <- nrow(s); a1 <- sum(s[[ep]])
        p1 <- a1 / n1; p2 <- c2 / n2; rd <- p1 - p2
        w1 <- wilson(a1, n1); w2 <- wilson(c2, n2); b1 <- n1 - a1; d2 <- n2 - c2
        rr <- if (c2 > 0) p1 / p2 else NA
        rrse <- if (a1 > 0 && c2 > 0) sqrt(1 / a1 - 1 / n1 + 1 / c2 - 1 / n2) else NA
        or <- if (b1 * c2 > 0) (a1 * d2) / (b1 * c2) else NA
        orse <- if (a1 * b1 * c2 * d2 > 0) sqrt(1 / a1 + 1 / b1 + 1 / c2 + 1 / d2) else NA
        comps <- rbind(comps, data.frame(endpoint = ep, arm = a, reference = REF, visit = v,
          n = n1, events = a1, n_reference = n2, events_reference = c2, risk_difference = rd,
          rd_ci_low = rd - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2),
          rd_ci_high = rd + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2),
          risk_ratio = rr, rr_ci_low = rr * exp(-z * rrse), rr_ci_high = rr * exp(z * rrse),
          odds_ratio = or, or_ci_low = or * exp(-z * orse), or_ci_high = or * exp(z * orse),
          p_fisher = fisher.test(matrix(c(a1, c2, b1, d2), 2))$p.value))
      }
    }
    out[[sprintf("%s_%s_rates.csv", I$tag, rule)]] <- rates
    out[[sprintf("%s_%s_comparisons.csv", I$tag, rule)]] <- comps
  }
  out
}

mmrm_tables <- function(x, I) {
  p <- x$post; p$base <- x$subj$base[match(p$subject, x$subj$subject)]
  p <- p[!is.na(p$score) & !is.na(p$base), ]
  p$chg <- p$score - p$base
  p$visit <- factor(p$visit, levels = VISITS)
  p$arm <- factor(p$arm, levels = ARMS); p$subject <- factor(p$subject)
  p <- p[order(p$subject, p$visit), ]
  out <- list()
  for (df in c("kr", "satterthwaite")) {
    fit <- if (df == "kr") {
      mmrm(chg ~ visit + arm:visit + base:visit + us(visit | subject), data = p,
           method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")
    } else {
      mmrm(chg ~ visit + arm:visit + base:visit + us(visit | subject), data = p,
           method = "Satterthwaite")
    }
    stopifnot(component(fit, "convergence") == 0)
    em <- emmeans(fit, ~ arm | visit)
    stopifnot(abs(em@grid$base[1] - mean(p$base)) < 1e-12)
    ls <- as.data.frame(summary(em))
    ct <- as.data.frame(summary(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"),
                                infer = c(TRUE, TRUE)))
    out[[sprintf("%s_mmrm_%s_lsmeans.csv", I$tag, df)]] <- data.frame(arm = ls$arm,
      visit = ls$visit, estimate = ls$emmean, se = ls$SE, df = ls$df, ci_low = ls$lower.CL,
      ci_high = ls$upper.CL)
    out[[sprintf("%s_mmrm_%s_contrasts.csv", I$tag, df)]] <- data.frame(
      arm = gsub("^[(]|[)]$", "", sub(" - .*$", "", ct$contrast)), reference = REF,
      visit = ct$visit, estimate = ct$estimate, se = ct$SE, df = ct$df, t = ct$t.ratio,
      p = ct$p.value, ci_low = ct$lower.CL, ci_high = ct$upper.CL)
    out[[sprintf("%s_mmrm_%s_fit.csv", I$tag, df)]] <- data.frame(
      neg2_reml_loglik = -2 * as.numeric(logLik(fit)),
      n_subjects = nlevels(droplevels(p$subject)), n_obs = nrow(p))
  }
  out
}

cs <- asNamespace("clinicalsignificance")
cs_jt <- function(data, post, I, type) {
  ds <- cs$.prep_data(data, id = id, time = time, outcome = score, group = treatment,
                      pre = 0, post = post, method = "JT")
  class(ds) <- c("cs_jt", class(ds))
  m_pre <- mean(ds$data$pre); sd_pre <- stats::sd(ds$data$pre)
  direction <- if (I$higher) 1 else -1
  rci <- cs$calc_rci(ds, m_pre = m_pre, sd_pre = sd_pre, reliability = I$r,
                     direction = direction, critical_value = qnorm(0.975))
  cut <- cs$calc_cutoff_from_data(ds, m_clinical = m_pre, sd_clinical = sd_pre,
                                  m_functional = I$fm, sd_functional = I$fsd, type = type,
                                  direction = direction)
  a <- as.data.frame(cs$.calc_recovered(as.data.frame(ds$data), as.data.frame(cut$data),
                                        as.data.frame(rci$data)))
  a$category <- ifelse(a$recovered, "recovered", ifelse(a$improved, "improved",
                ifelse(a$harmed, "harmed", ifelse(a$deteriorated, "deteriorated", "unchanged"))))
  list(data = a, s_diff = rci$s_diff, m = m_pre, sd = sd_pre, cutoff = cut$info$value)
}
rc_tables <- function(x, I) {
  s <- x$subj[!is.na(x$subj$base), ]
  long <- rbind(data.frame(id = s$subject, treatment = s$arm, time = 0, score = s$base),
                data.frame(id = x$post$subject, treatment = x$post$arm,
                           time = unname(WEEKS[x$post$visit]), score = x$post$score))
  long <- long[long$id %in% s$subject, ]
  subjects <- NULL; criteria <- NULL; rates <- NULL
  for (type in c("a", "b", "c")) for (v in VISITS) {
    r <- cs_jt(long, WEEKS[[v]], I, type); a <- r$data
    subjects <- rbind(subjects, data.frame(cutoff_type = type, visit = v, subject_id = a$id,
      arm = a$group, baseline = a$pre, score = a$post, change = a$change, rci_r = a$rci,
      clinical_before = a$clinical_pre, functional_after = a$functional_post,
      category = a$category))
    criteria <- rbind(criteria, data.frame(cutoff_type = type, visit = v, n = nrow(a),
      m_clinical = r$m, sd_clinical = r$sd, s_diff = r$s_diff, cutoff = r$cutoff))
    for (arm in ARMS) for (ct in c("recovered", "improved", "unchanged", "deteriorated", "harmed")) {
      g <- a[a$group == arm, ]; k <- sum(g$category == ct); n <- nrow(g); w <- wilson(k, n)
      rates <- rbind(rates, data.frame(cutoff_type = type, arm = arm, visit = v, category = ct,
                                       n = n, count = k, rate = k / n, ci_low = w[1], ci_high = w[2]))
    }
  }
  out <- list()
  out[[sprintf("%s_rc_subjects.csv", I$tag)]] <- subjects
  out[[sprintf("%s_rc_criteria.csv", I$tag)]] <- criteria
  out[[sprintf("%s_rc_rates.csv", I$tag)]] <- rates
  out
}

for (param in names(INSTR)) {
  I <- INSTR[[param]]; x <- prepare(param)
  out <- c(response_tables(x, I), mmrm_tables(x, I), rc_tables(x, I))
  for (f in names(out)) write.csv(out[[f]], f, row.names = FALSE)
  o <- outcomes(x$subj, x$post, "observed", I)
  imp <- improvement(o$base, o$used, I)
  cat(param, ": post rows", nrow(x$post), " responders at exactly 50%:", sum(imp == 0.5),
      " at the remission threshold:", sum(o$used == I$remit), "\n")
}
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
