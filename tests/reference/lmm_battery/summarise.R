# Counts quoted in README.md (run after fit_battery.R): Rscript summarise.R > summary.txt
rd <- function(f) read.csv(f, na.strings = "")
b <- rd("battery_fits.csv"); e <- rd("external_fits.csv"); n <- rd("nested_fits.csv"); p <- rd("battery_parameters.csv")
bx <- rd("battery_fixed.csv")
b$scenario <- p$scenario[match(b$dataset, p$dataset)]
cat("battery data sets:", nrow(p), " rows written:", sum(p$n_rows_written), " observed scores:", sum(p$n_observed), "\n")
cat("subjects:", range(p$n_subjects), " arms:", table(p$n_arms), " visits:", range(p$n_visits), "\n")
cat("battery fits:", nrow(b), "  singular:", sum(b$is_singular), " in", length(unique(b$dataset[b$is_singular])), "data sets\n")
print(with(b, table(paste(method, structure), singular = is_singular)))
print(with(b, table(scenario, singular = is_singular)))
cat("\noptimiser disagreement > 1e-4 (battery, external, nested):",
    sum(b$loglik_optimizer_diff > 1e-4), sum(e$loglik_optimizer_diff > 1e-4), sum(n$loglik_optimizer_diff > 1e-4), "\n")
cat("winner counts battery:\n"); print(table(b$optimizer))
print(b[b$loglik_optimizer_diff > 1e-4, c("dataset", "method", "structure", "loglik_bobyqa", "loglik_nelder_mead", "optimizer", "is_singular")])
print(n[n$loglik_optimizer_diff > 1e-4, c("dataset", "structure", "loglik_bobyqa", "loglik_nelder_mead", "optimizer", "is_singular")])
cat("\ncheck search (multi-start bobyqa on the deviance function): max gap battery/external/nested:",
    max(b$check_gap), max(e$check_gap), max(n$check_gap), "\n")
cat("fits with gap > 1e-6:", sum(b$check_gap > 1e-6), sum(e$check_gap > 1e-6), sum(n$check_gap > 1e-6), "; > 1e-4:",
    sum(b$check_gap > 1e-4), sum(e$check_gap > 1e-4), sum(n$check_gap > 1e-4), "\n")
# precision of lme4's theta: kept vs the tight check optimum, non-singular fits
th <- function(x) lapply(strsplit(x, ";"), as.numeric)
rel <- mapply(function(a, c) max(abs(a - c) / pmax(abs(c), 1e-8)), th(b$theta), th(b$theta_check))
ns <- !b$is_singular
cat("\nnon-singular battery fits: max relative |theta - theta_check|:", signif(max(rel[ns]), 3),
    "; quantiles 50/90/99%:", signif(quantile(rel[ns], c(.5, .9, .99)), 3), "\n")
cat("  fits with rel > 5e-4:", sum(rel[ns] > 5e-4), "\n")
print(cbind(b[ns & rel > 5e-4, c("dataset", "method", "structure", "min_diag_theta", "theta", "theta_check")], rel = rel[ns & rel > 5e-4]))
cat("\nnear-singular but not flagged (1e-4 <= min_diag_theta < 1e-2):", sum(ns & b$min_diag_theta < 1e-2), "\n")
cat("\nwarnings (kept fit):\n"); print(table(sub(":.*", "", b$warnings[!is.na(b$warnings)])))
cat("warnings on the losing optimiser:", sum(!is.na(b$warnings_other_optimizer)), "\n")
cat("Satterthwaite warnings:", sum(!is.na(b$warnings_satterthwaite)), " KR warnings/errors:", sum(!is.na(b$warnings_kr)), "\n")
cat("max |gradient| of kept fits:", max(b$max_abs_gradient, na.rm = TRUE), "\n")
cat("\nfixed-effect rows:", nrow(bx), " REML rows without KR df:", sum(bx$method == "REML" & is.na(bx$df_kr)), "\n")
r <- bx$method == "REML"
cat("KR df / Satterthwaite df (REML): range", range(bx$df_kr[r] / bx$df_satterthwaite[r]), "\n")
cat("nested fits:", nrow(n), " singular:", sum(n$is_singular), "\n")
cat("external singular fits:\n"); print(e[e$is_singular, c("dataset", "method", "structure")])
