# Independent R reference for ipt_outcomes.response (issue 3), run in this folder:
#   Rscript make_reference.R
# R 4.2.2; geepack 1.3.9. Inputs: synthetic_trial.csv (ipt-outcomes simulate --seed 2016, a
# fixed input snapshot) and the external trials in ../../../../shared/data/external.
# Everything below is computed from the raw scores in R, independently of the Python code:
# missing-data rules (observed / nri / locf as in SPEC.md), Wilson (prop.test, correct=FALSE),
# Clopper-Pearson (binom.test), Agresti-Coull (hand-coded), Newcombe hybrid score (hand-coded
# from prop.test Wilson limits), Miettinen-Nurminen (score statistic with the restricted MLE
# found by numerical maximisation, roots by uniroot), Katz log RR and Woolf logit OR intervals,
# fisher.test, chisq.test(correct=FALSE), NNT from inverted RD limits, p.adjust(holm), and
# logistic GEE with geepack::geeglm (exchangeable, unstructured; robust SEs).
suppressMessages(library(geepack))
ext <- "../../../../shared/data/external"
z <- qnorm(0.975)

# ---- missing-data rules: one row per subject x post-baseline visit ---------------------------
outcomes <- function(d, rule) {
  # d: subject, arm, visit, score, base (post-baseline rows only, base NA = no baseline)
  d <- d[!is.na(d$base), ]
  subj <- unique(d[, c("subject", "arm", "base")])
  visits <- sort(unique(d$visit))
  if (rule == "observed") {
    o <- d[!is.na(d$score), ]
    o$used <- o$score
  } else {
    o <- merge(subj, data.frame(visit = visits))
    o <- merge(o, d[, c("subject", "visit", "score")], by = c("subject", "visit"), all.x = TRUE)
    o <- o[order(o$subject, o$visit), ]
    if (rule == "nri") {
      o$used <- o$score
    } else {
      o$used <- ave(o$score, o$subject, FUN = function(s) {
        out <- s; last <- NA
        for (i in seq_along(s)) { if (!is.na(s[i])) last <- s[i]; out[i] <- last }
        out
      })
      o$used[is.na(o$used)] <- o$base[is.na(o$used)]
    }
  }
  o$responder <- !is.na(o$used) & (o$base - o$used) / o$base >= 0.5
  o$remitter <- !is.na(o$used) & o$used <= 7
  o
}

wilson <- function(k, n) as.numeric(prop.test(k, n, correct = FALSE)$conf.int)
ac <- function(k, n) { nt <- n + z^2; pt <- (k + z^2 / 2) / nt; h <- z * sqrt(pt * (1 - pt) / nt); pmin(pmax(c(pt - h, pt + h), 0), 1) }

mn <- function(k1, n1, k2, n2) {
  p1 <- k1 / n1; p2 <- k2 / n2; d <- p1 - p2; N <- n1 + n2; crit <- qchisq(0.95, 1)
  stat <- function(delta) {
    if (abs(delta - d) < 1e-15) return(-crit)
    ll <- function(q2) { q1 <- q2 + delta
      k1 * log(pmax(q1, 1e-300)) + (n1 - k1) * log(pmax(1 - q1, 1e-300)) +
      k2 * log(pmax(q2, 1e-300)) + (n2 - k2) * log(pmax(1 - q2, 1e-300)) }
    lo <- max(0, -delta); hi <- min(1, 1 - delta)
    q2 <- optimize(ll, c(lo, hi), maximum = TRUE, tol = 1e-14)$maximum
    q1 <- q2 + delta
    v <- (q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2) * N / (N - 1)
    (d - delta)^2 / v - crit
  }
  e <- 1e-10
  low <- if (stat(-1 + e) <= 0) -1 else uniroot(stat, c(-1 + e, d), tol = 1e-14)$root
  high <- if (stat(1 - e) <= 0) 1 else uniroot(stat, c(d, 1 - e), tol = 1e-14)$root
  c(low, high)
}

analyse <- function(name, d, ref, key, gee = TRUE) {
  for (rule in c("observed", "nri", "locf")) {
    o <- outcomes(d, rule)
    arms <- unique(d$arm); visits <- sort(unique(o$visit))
    rates <- NULL; comps <- NULL; chis <- NULL
    for (ep in c("responder", "remitter")) {
      for (v in visits) {
        for (a in arms) {
          x <- o[o$arm == a & o$visit == v, ]
          n <- nrow(x); k <- sum(x[[ep]])
          if (n == 0) next
          w <- wilson(k, n); cp <- as.numeric(binom.test(k, n)$conf.int); agc <- ac(k, n)
          rates <- rbind(rates, data.frame(endpoint = ep, arm = a, visit = v, n = n, events = k, rate = k / n,
            wilson_low = w[1], wilson_high = w[2], cp_low = cp[1], cp_high = cp[2], ac_low = agc[1], ac_high = agc[2]))
        }
        xr <- o[o$arm == ref & o$visit == v, ]; n2 <- nrow(xr); c2 <- sum(xr[[ep]])
        for (a in setdiff(arms, ref)) {
          x <- o[o$arm == a & o$visit == v, ]; n1 <- nrow(x); a1 <- sum(x[[ep]])
          if (n1 == 0 || n2 == 0) next
          p1 <- a1 / n1; p2 <- c2 / n2; rd <- p1 - p2
          w1 <- wilson(a1, n1); w2 <- wilson(c2, n2)
          nl <- rd - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2); nh <- rd + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2)
          m <- mn(a1, n1, c2, n2)
          b1 <- n1 - a1; d2 <- n2 - c2
          rr <- if (c2 > 0) p1 / p2 else NA
          rrse <- if (a1 > 0 && c2 > 0) sqrt(1 / a1 - 1 / n1 + 1 / c2 - 1 / n2) else NA
          or <- if (b1 * c2 > 0) (a1 * d2) / (b1 * c2) else NA
          orse <- if (a1 * b1 * c2 * d2 > 0) sqrt(1 / a1 + 1 / b1 + 1 / c2 + 1 / d2) else NA
          comps <- rbind(comps, data.frame(endpoint = ep, arm = a, reference = ref, visit = v,
            risk_difference = rd, rd_ci_low = nl, rd_ci_high = nh, mn_low = m[1], mn_high = m[2],
            risk_ratio = rr, rr_ci_low = rr * exp(-z * rrse), rr_ci_high = rr * exp(z * rrse),
            odds_ratio = or, or_ci_low = or * exp(-z * orse), or_ci_high = or * exp(z * orse),
            p_fisher = fisher.test(matrix(c(a1, c2, b1, d2), 2))$p.value,
            nnt = if (rd != 0) 1 / rd else NA, nnt_ci_low = if (nh != 0) 1 / nh else NA,
            nnt_ci_high = if (nl != 0) 1 / nl else NA))
        }
        tab <- table(factor(o$arm[o$visit == v]), factor(o[[ep]][o$visit == v], levels = c(TRUE, FALSE)))
        tab <- tab[rowSums(tab) > 0, , drop = FALSE]
        if (nrow(tab) >= 2 && all(colSums(tab) > 0)) {
          ct <- suppressWarnings(chisq.test(tab, correct = FALSE))
          chis <- rbind(chis, data.frame(endpoint = ep, visit = v, chi2 = unname(ct$statistic), df = unname(ct$parameter), p = ct$p.value))
        }
      }
    }
    comps$p_holm <- NA
    for (ep in c("responder", "remitter")) {
      fam <- comps$endpoint == ep & comps$visit %in% key
      comps$p_holm[fam] <- p.adjust(comps$p_fisher[fam], "holm")
    }
    write.csv(rates, sprintf("%s_%s_rates.csv", name, rule), row.names = FALSE)
    write.csv(comps, sprintf("%s_%s_comparisons.csv", name, rule), row.names = FALSE)
    write.csv(chis, sprintf("%s_%s_chisq.csv", name, rule), row.names = FALSE)
  }
  if (!gee) return(invisible())
  # GEE on observed responders, arm * visit, reference arm and first visit as baselines.
  # geepack 1.3.9 (Debian build) segfaults for corstr = "unstructured" when clusters are
  # unbalanced, so unstructured is taken from geepack on the complete cases (subjects seen at
  # every visit) and, for all observed data, from gee_hand() below, a hand-coded GEE with
  # geepack's moment estimators that this script checks against geepack wherever geepack runs.
  o <- outcomes(d, "observed")
  o <- o[order(o$subject, o$visit), ]
  o$arm <- relevel(factor(o$arm, levels = unique(d$arm)), ref); o$visitf <- factor(o$visit)
  o$wave <- as.integer(o$visitf); o$y <- as.numeric(o$responder)
  o$id <- as.integer(factor(o$subject, levels = unique(o$subject)))
  nv <- nlevels(o$visitf)
  cc <- o[ave(o$y, o$id, FUN = length) == nv, ]
  ctl <- geese.control(epsilon = 1e-12, maxit = 500)
  gees <- NULL
  add <- function(fitname, cs, sample, b, V, alpha) {
    for (a in setdiff(levels(o$arm), ref)) for (v in key) {
      L <- setNames(rep(0, length(b)), names(b)); L[paste0("arm", a)] <- 1
      it <- paste0("arm", a, ":visitf", v); if (it %in% names(b)) L[it] <- 1
      est <- sum(L * b); se <- sqrt(drop(t(L) %*% V %*% L))
      gees <<- rbind(gees, data.frame(source = fitname, correlation = cs, sample = sample, arm = a, reference = ref,
        visit = v, log_or = est, se = se, odds_ratio = exp(est), ci_low = exp(est - z * se),
        ci_high = exp(est + z * se), p = 2 * pnorm(-abs(est / se)), alpha = paste(signif(alpha, 12), collapse = ";")))
    }
  }
  f <- geeglm(y ~ arm * visitf, id = id, waves = wave, data = o, family = binomial, corstr = "exchangeable", control = ctl)
  add("geepack", "exchangeable", "observed", coef(f), vcov(f), f$geese$alpha)
  h <- gee_hand(o, "exchangeable"); add("hand", "exchangeable", "observed", h$b, h$V, h$alpha)
  h <- gee_hand(o, "unstructured"); add("hand", "unstructured", "observed", h$b, h$V, h$alpha)
  f <- geeglm(y ~ arm * visitf, id = id, waves = wave, data = cc, family = binomial, corstr = "unstructured", control = ctl)
  add("geepack", "unstructured", "complete", coef(f), vcov(f), f$geese$alpha)
  h <- gee_hand(cc, "unstructured"); add("hand", "unstructured", "complete", h$b, h$V, h$alpha)
  write.csv(gees, sprintf("%s_gee.csv", name), row.names = FALSE)
}

# Hand-coded logistic GEE (Liang & Zeger 1986) with geepack's moment estimators:
# phi = sum(r^2) / N; exchangeable alpha = sum_{j<k} r_j r_k / (phi * pairs);
# unstructured alpha_jk = sum r_j r_k / (phi * n_jk); robust sandwich covariance.
gee_hand <- function(o, corstr, tol = 1e-12, maxit = 500) {
  X <- model.matrix(y ~ arm * visitf, o); y <- o$y; wave <- o$wave; q <- max(wave)
  idx <- split(seq_along(y), factor(o$id, levels = unique(o$id)))
  b <- coef(glm.fit(X, y, family = binomial()))
  corr <- function(mu) {
    r <- (y - mu) / sqrt(mu * (1 - mu)); phi <- sum(r^2) / length(y)
    if (corstr == "exchangeable") {
      num <- 0; np <- 0
      for (ix in idx) { g <- r[ix]; num <- num + (sum(g)^2 - sum(g^2)) / 2; np <- np + length(g) * (length(g) - 1) / 2 }
      a <- num / (phi * np); R <- matrix(a, q, q); diag(R) <- 1; list(R = R, alpha = a)
    } else {
      C <- matrix(0, q, q); N <- matrix(0, q, q)
      for (ix in idx) { w <- wave[ix]; C[w, w] <- C[w, w] + outer(r[ix], r[ix]); N[w, w] <- N[w, w] + 1 }
      R <- C / (phi * N); diag(R) <- 1; list(R = R, alpha = t(R)[lower.tri(R)])  # (1,2), (1,3), ..., (2,3), ...
    }
  }
  pieces <- function(b, R) {
    mu <- drop(plogis(X %*% b)); v <- mu * (1 - mu); B <- 0; U <- 0; M <- 0
    for (ix in idx) {
      w <- wave[ix]; D <- X[ix, , drop = FALSE] * v[ix]; A <- diag(sqrt(v[ix]), length(ix))
      Vi <- solve(A %*% R[w, w, drop = FALSE] %*% A); e <- y[ix] - mu[ix]
      B <- B + t(D) %*% Vi %*% D; s <- t(D) %*% Vi %*% e; U <- U + s; M <- M + s %*% t(s)
    }
    list(B = B, U = U, M = M)
  }
  for (it in 1:maxit) {
    cr <- corr(drop(plogis(X %*% b))); p <- pieces(b, cr$R)
    step <- drop(solve(p$B, p$U)); b <- b + step
    if (max(abs(step)) < tol) break
  }
  cr <- corr(drop(plogis(X %*% b))); p <- pieces(b, cr$R); Bi <- solve(p$B)
  list(b = setNames(b, colnames(X)), V = Bi %*% p$M %*% Bi, alpha = cr$alpha)
}

# ---- the data sets ---------------------------------------------------------------------------
s <- read.csv("synthetic_trial.csv", check.names = FALSE)
b <- s[s$visit == 0, c("subject_id", "hamd17")]; names(b) <- c("subject", "base")
s <- merge(data.frame(subject = s$subject_id, arm = s$arm, visit = s$visit, score = s$hamd17)[s$visit > 0, ], b, all.x = TRUE)
analyse("synthetic", s, "TAU", c(3, 12))

r <- read.csv(file.path(ext, "riesby.csv"))
b <- r[r$week == 0, c("id", "hamd")]; names(b) <- c("subject", "base")
r <- merge(data.frame(subject = r$id, arm = as.character(r$endog), visit = r$week, score = r$hamd)[r$week > 0, ], b, all.x = TRUE)
analyse("riesby", r, "0", c(5), gee = FALSE)  # week-1 responders: none in one arm (separation)

a <- read.csv(file.path(ext, "antidepressant_dia.csv"))
a <- data.frame(subject = a$PATIENT, arm = a$THERAPY, visit = a$VISIT, score = a$HAMDTL17, base = a$BASVAL)
analyse("dia", a, "PLACEBO", c(7))
writeLines(capture.output(sessionInfo()), "sessionInfo.txt")
