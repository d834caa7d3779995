"""The ``ipt-outcomes`` command line (SPEC "Command line").

Exit status: 0 success; 1 invalid data or failed analysis (one clear message per problem, no
traceback unless ``--debug``); 2 usage error. Outputs are written whole or not at all.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..data.design import ColumnMap, TrialDesign, default_design, load_design
from ..data.readers import read_table
from ..data.summary import assessment_counts, observed_response
from ..data.validation import ValidatedScores, validate_scores
from ..exceptions import ConvergenceWarning, DataValidationError, IptOutcomesError
from ..models.mmrm import COVARIANCE_STRUCTURES, DF_METHODS
from ..output import atomic_write, neutralise_formulas
from ..stats.response import CI_METHODS, MISSING_RULES, RD_METHODS

__all__ = ["main", "build_parser"]

PROJECT_DATA = Path("data/synthetic/trial.csv")
PROJECT_DESIGN = Path("analyses/saloheimo2016.toml")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: exit 2 with the usage line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_out(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        default="reports/tables",
        metavar="DIR",
        help="output folder (default reports/tables)",
    )


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data file options")
    g.add_argument(
        "--design", metavar="FILE", help="trial design TOML (arms, visits, instrument, columns)"
    )
    g.add_argument(
        "--subject-col", metavar="COL", help="column of subject ids (default subject_id)"
    )
    g.add_argument("--arm-col", metavar="COL", help="column of randomised arms (default arm)")
    g.add_argument("--visit-col", metavar="COL", help="column of visit times (default visit)")
    g.add_argument("--outcome-col", metavar="COL", help="column of outcome scores (default hamd17)")
    g.add_argument(
        "--baseline-col",
        metavar="COL",
        help="column carrying the baseline score on every row (then every row is post-baseline)",
    )
    g.add_argument(
        "--reference", metavar="ARM", help="comparator arm (default: the design's, else TAU)"
    )
    g.add_argument(
        "--sheet", metavar="NAME", help="worksheet of an .xlsx file (default: the first)"
    )
    g.add_argument("--encoding", metavar="ENC", help="encoding of a text file (default UTF-8)")


def _design_and_columns(args) -> tuple[TrialDesign, ColumnMap]:
    design = load_design(args.design) if getattr(args, "design", None) else default_design()
    columns = design.columns.with_overrides(
        subject=args.subject_col,
        arm=args.arm_col,
        visit=args.visit_col,
        outcome=args.outcome_col,
        baseline=args.baseline_col,
    )
    if getattr(args, "reference", None):
        if design.arms and args.reference not in design.arm_codes:
            raise IptOutcomesError(
                f"--reference {args.reference!r} is not one of the design's arms {list(design.arm_codes)}"
            )
        from dataclasses import replace

        design = replace(design, reference=args.reference)
    return design, columns


def _load(args, path) -> ValidatedScores:
    design, columns = _design_and_columns(args)
    raw = read_table(
        path, sheet=getattr(args, "sheet", None), encoding=getattr(args, "encoding", None)
    )
    scores = validate_scores(raw, design, columns)
    if scores.data["arm"].nunique() and design.reference not in set(scores.data["arm"]):
        arms = ", ".join(sorted(scores.data["arm"].unique()))
        scores.problems.append(
            _note(
                f"the reference arm {design.reference!r} is not in the data (arms: {arms}); give --reference"
            )
        )
    return scores


def _note(message):
    from ..data.validation import Problem

    return Problem("reference_arm", message, severity="warning")


# ------------------------------------------------------------------------------------------
# validate
# ------------------------------------------------------------------------------------------


def validation_report(scores: ValidatedScores) -> str:
    """The text ``validate`` prints for a valid file."""
    d = scores.data
    design = scores.design
    unit = design.visit_unit
    visits = sorted(d["visit"].unique())
    lines = [
        f"{scores.source}: valid - {len(d)} rows, {d['subject_id'].nunique()} subjects in "
        f"{d['arm'].nunique()} arms, visits {', '.join(f'{v:g}' for v in visits)} ({unit})",
    ]
    mode = (
        f"baseline from column {scores.columns.baseline!r}; every row is post-baseline"
        if scores.baseline_in_column
        else f"baseline = the score at visit {design.baseline_visit:g}"
    )
    lines.append(
        f"Outcome {scores.columns.outcome!r} ({design.instrument.name}, {design.instrument.minimum}-"
        f"{design.instrument.maximum}); {mode}."
    )
    modelled = [a.code for a in design.arms if a.modelled and a.code in set(d["arm"])]
    if modelled:
        lines.append(f"Modelled, not observed (per the design): {', '.join(modelled)}.")
    for p in scores.problems:
        lines.append(p.format(scores.source))
    n_ex = len(scores.excluded_subjects)
    lines.append(
        f"{n_ex} subject{'s' if n_ex != 1 else ''} without a baseline score "
        f"{'are' if n_ex != 1 else 'is'} excluded from change-based analyses."
    )
    counts = assessment_counts(scores)
    wide = counts.pivot(index="arm", columns="visit", values="observed").reindex(
        design.arm_order(d["arm"].unique())
    )
    wide.columns = [f"{v:g}" for v in wide.columns]
    wide.insert(0, "subjects", counts.groupby("arm")["randomised"].first().reindex(wide.index))
    lines += ["", f"Subjects, and observed scores by visit ({unit}):", wide.to_string()]
    resp = observed_response(scores)
    if len(resp):
        thr = design.instrument.response_improvement
        resp = resp.assign(
            visit=resp["visit"].map(lambda v: f"{v:g}"),
            percent=resp["percent"].map(lambda p: "" if np.isnan(p) else f"{p:.1f}"),
        )
        lines += [
            "",
            f"Response (improvement >= {thr:.0%} from baseline), observed cases:",
            resp.to_string(index=False),
        ]
    return "\n".join(lines) + "\n"


def _cmd_validate(args) -> int:
    try:
        scores = _load(args, args.file)
    except DataValidationError as err:
        print(str(err))
        return 1
    sys.stdout.write(validation_report(scores))
    return 0


# ------------------------------------------------------------------------------------------
# simulate
# ------------------------------------------------------------------------------------------


def _visits(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"visits must be numbers separated by commas, got {text!r}"
        ) from None


def calibration_text(trial) -> str:
    c = trial.calibration.copy()
    c["visit"] = c["visit"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    c["source"] = c["source"].map(lambda s: s if len(s) <= 70 else s[:67] + "...")
    lines = [
        f"Calibration of the synthetic trial (seed {trial.seed}, accepted draw {trial.attempt}):",
        c[["quantity", "arm", "visit", "target", "achieved", "status", "source"]].to_string(
            index=False
        ),
        "",
        "Published figures that cannot all be true at once, and what was chosen:",
    ]
    lines += [f"- {n}" for n in trial.notes]
    return "\n".join(lines) + "\n"


def _cmd_simulate(args) -> int:
    from ..data.synthetic import simulate_trial, write_trial_csv

    t0 = time.perf_counter()
    trial = simulate_trial(
        args.seed,
        n_per_arm=args.n_per_arm,
        visits=args.visits,
        include_modelled_arm=not args.no_modelled_arm,
    )
    with atomic_write(args.out) as fh:
        write_trial_csv(trial.data, fh)
    if args.calibration:
        seed_row = pd.DataFrame([dict(quantity="seed", arm="all", visit=np.nan, target=str(trial.seed),
                                      achieved=str(trial.seed), status="", kind="", source="ipt-outcomes simulate --seed")])  # fmt: skip
        with atomic_write(args.calibration) as fh:
            pd.concat([seed_row, trial.calibration], ignore_index=True).to_csv(
                fh, index=False, lineterminator="\n"
            )
    if not args.quiet:
        sys.stdout.write(calibration_text(trial))
    n_sub = trial.data["subject_id"].nunique()
    print(
        f"Wrote {args.out}: {n_sub} subjects, {len(trial.data)} rows ({time.perf_counter() - t0:.1f} s).",
        file=sys.stderr,
    )
    return 0


# ------------------------------------------------------------------------------------------
# response
# ------------------------------------------------------------------------------------------


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Visits as the user wrote them (3, 1.5), not 3.0; everything else untouched."""
    out = df.copy()
    if "visit" in out.columns:
        out["visit"] = out["visit"].map(lambda v: "" if pd.isna(v) else f"{float(v):g}")
    return out


def write_tables(tables: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write each table as ``out_dir/NAME.csv`` (UTF-8, LF), each file whole or not at all."""
    written = []
    for name, table in tables.items():
        path = Path(out_dir) / f"{name}.csv"
        with atomic_write(path) as fh:
            neutralise_formulas(_csv_ready(table)).to_csv(fh, index=False, lineterminator="\n")
        written.append(path)
    return written


def _cmd_response(args) -> int:
    from ..stats.response import analyse_response

    scores = _load(args, args.file)
    with warnings.catch_warnings():  # non-convergence is reported in response_gee_fit.csv
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = analyse_response(
            scores,
            args.missing,
            reference=scores.design.reference,
            ci_method=args.ci,
            rd_method=args.rd_method,
            alpha=args.alpha,
        )
    failed = res.gee_fit.loc[~res.gee_fit["converged"].astype(bool), "correlation"].tolist()
    if failed:
        res.notes.append(f"GEE ({', '.join(failed)}) did not converge: see response_gee_fit.csv")
    tables = {
        "response_rates": res.response_rates,
        "remission_rates": res.remission_rates,
        "response_comparisons": res.response_comparisons,
        "remission_comparisons": res.remission_comparisons,
        "response_chisq": res.chi_square,
        "response_gee": res.gee,
        "response_gee_fit": res.gee_fit,
    }
    for name, t in tables.items():  # the rule last, so the SPEC's columns stay first and in order
        tables[name] = t.assign(missing=args.missing) if len(t.columns) else t
    paths = write_tables(tables, Path(args.out))
    key = scores.design.key_visits or sorted(res.response_rates["visit"].unique())
    show = res.summary()
    show = show[show["visit"].isin(key)]
    pct = show.assign(
        visit=show["visit"].map(lambda v: f"{v:g}"),
        rate=show["rate"].map(lambda r: "" if pd.isna(r) else f"{100 * r:.1f}%"),
        p_fisher=show["p_fisher"].map(lambda p: "" if pd.isna(p) else f"{p:.4f}"),
        p_holm=show["p_holm"].map(lambda p: "" if pd.isna(p) else f"{p:.4f}"),
        nnt_text=show["nnt_text"].fillna(""),
    )[["arm", "visit", "n", "responders", "rate", "p_fisher", "p_holm", "nnt_text"]]
    print(f"Response (missing-data rule: {args.missing}; reference {res.reference}):")
    print(pct.to_string(index=False))
    for note in res.notes:
        print(f"note: {note}")
    print(f"Wrote {len(paths)} tables to {args.out}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------
# mmrm
# ------------------------------------------------------------------------------------------


def _cmd_mmrm(args) -> int:
    from ..models.mmrm import fit_mmrm, mmrm_data

    scores = _load(args, args.file)
    design = scores.design
    data = mmrm_data(scores, covariates=args.covariate or ())
    arms = design.arm_order(data["arm"].unique())
    with warnings.catch_warnings():  # a fallback is reported in mmrm_fit.csv and below
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = fit_mmrm(
            data,
            reference=design.reference,
            arms=arms,
            covariance=args.covariance,
            df=args.df,
            method=args.method,
            covariates=args.covariate or (),
            group_by_arm=args.group_by_arm,
            fallback=not args.no_fallback,
            alpha=args.alpha,
        )
    covs = []
    for g, sig in zip(res.groups, res.sigma, strict=True):
        long = sig.stack().rename("covariance").reset_index()
        long.columns = ["visit", "visit2", "covariance"]
        covs.append(long.assign(group=g))
    tables = {
        "mmrm_lsmeans": res.lsmeans(),
        "mmrm_contrasts": res.contrasts(),
        "mmrm_fit": res.fit_table(),
        "mmrm_anova": res.anova(),
        "mmrm_fixed": res.summary(),
        "mmrm_covariance": pd.concat(covs, ignore_index=True)[
            ["group", "visit", "visit2", "covariance"]
        ],
    }
    paths = write_tables(tables, Path(args.out))
    ct = res.contrasts()
    show = ct.assign(visit=ct["visit"].map(lambda v: f"{v:g}")).round(
        {"estimate": 3, "se": 3, "df": 1, "t": 2, "p": 4, "ci_low": 3, "ci_high": 3}
    )
    print(
        f"MMRM of change from baseline ({res.method.upper()}, {res.covariance} covariance, "
        f"{res.df_method} df): {res.n_obs} observations, {res.n_subjects} subjects, "
        f"-2 log-likelihood {res.neg2_loglik:.3f}"
    )
    if res.fallback_log:
        print("Covariance fallback: " + " | ".join(res.fallback_log))
    print(f"Contrasts with {res.design.reference}:")
    print(show.to_string(index=False))
    print(f"Wrote {len(paths)} tables to {args.out}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------
# lmm
# ------------------------------------------------------------------------------------------


def _cmd_lmm(args) -> int:
    from ..models.lmm import (
        ancova_by_visit,
        growth_model,
        hedges_g,
        lmm_fit_table,
        partially_nested_model,
    )

    scores = _load(args, args.file)
    design = scores.design
    res = growth_model(
        scores, method=args.method, random_slope=args.random_slope, quadratic=args.quadratic
    )
    tables = {"lmm_fixed": res.fixed_effects(), "lmm_fit": lmm_fit_table(res, args.random_slope)}
    notes = []
    d = scores.data
    group_arm = args.group_arm
    if (
        "therapy_group" in d.columns
        and (d["arm"] == group_arm).any()
        and d.loc[d["arm"] == group_arm, "therapy_group"].notna().any()
    ):
        nested, icc, _fits = partially_nested_model(scores, group_arm=group_arm)
        tables["lmm_nested"] = nested
        tables["lmm_icc"] = icc
    else:
        notes.append(f"no therapy groups in arm {group_arm!r}: partially nested model not fitted")
    visits = design.key_visits or sorted(
        v for v in d["visit"].unique() if v != design.baseline_visit
    )
    if not scores.baseline_in_column:
        tables["ancova_hc3"] = ancova_by_visit(scores, visits)
        tables["hedges_g"] = hedges_g(scores, visits)
    paths = write_tables(tables, Path(args.out))
    fit = tables["lmm_fit"].iloc[0]
    print(
        f"Linear mixed model ({args.method.upper()}, random intercept{' and slope' if args.random_slope else ''}"
        f"{', quadratic time' if args.quadratic else ''}): {res.n_obs} observations, {res.n_subjects} subjects, "
        f"log-likelihood {res.loglik:.3f}; converged {fit['converged']}"
    )
    if res.message:
        print(f"Fit: {res.message}")
    print(res.fixed_effects().round(4).to_string(index=False))
    if "lmm_icc" in tables:
        icc = tables["lmm_icc"].iloc[0]
        print(f"Therapy-group intra-group correlation ({group_arm}): {icc['icc']:.3f}")
    for n in notes:
        print(f"note: {n}")
    print(f"Wrote {len(paths)} tables to {args.out}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------
# appraisal: fragility and granularity
# ------------------------------------------------------------------------------------------


def _pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two whole numbers separated by a comma, got {text!r}"
        ) from None
    return a, b


def _cmd_fragility(args) -> int:
    from ..stats.appraisal import fragility_index

    (ea, eb), (na, nb) = args.events, args.totals
    res = fragility_index(ea, na, eb, nb, alpha=args.alpha)
    table = pd.DataFrame([res])[
        ["fragility_index", "p_fisher", "significant", "kind", "p_after", "changed_arm"]
    ]
    write_tables({"fragility": table}, Path(args.out))
    verb = "non-significant" if res["significant"] else "significant"
    print(
        f"{res['kind'].capitalize()} index {res['fragility_index']}: Fisher p = {res['p_fisher']:.4g}; "
        f"changing {res['fragility_index']} patient outcome(s) in arm {res['changed_arm'] or '-'} makes the result {verb}."
    )
    return 0


def _cmd_grim(args) -> int:
    from ..stats.appraisal import grim_table

    table = grim_table(args.percent, args.n)
    write_tables({"grim": table}, Path(args.out))
    print(table.to_string(index=False))
    return 0


# ------------------------------------------------------------------------------------------
# power and sample size
# ------------------------------------------------------------------------------------------


def _rates(text: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two proportions separated by a comma, e.g. 0.42,0.61; got {text!r}"
        ) from None
    for v in (a, b):
        if not 0 <= v <= 1:
            raise argparse.ArgumentTypeError(
                f"rates must be proportions between 0 and 1, got {v:g}"
            )
    return a, b


def _arm_and_visit(args, scores) -> tuple[str, float]:
    """``--arm`` (default: the design's first non-reference arm in the data) and ``--visit``
    (default: the design's last key visit), checked against the data."""
    design = scores.design
    present = design.arm_order(scores.data["arm"].unique())
    arm = args.arm or next((a for a in present if a != design.reference), None)
    visit = args.visit if args.visit is not None else max(design.key_visits, default=None)
    if arm is None or visit is None:
        raise IptOutcomesError("give --arm and --visit: the design names no other arm or key visit")
    if arm not in present:
        raise IptOutcomesError(f"--arm {arm!r} is not in the data (arms: {', '.join(present)})")
    return arm, float(visit)


def _cmd_power(args) -> int:
    from ..report.figures import power_curve, save_figure
    from ..stats import power

    if args.workers is not None and args.workers < 1:
        raise IptOutcomesError("--workers must be at least 1")
    run = dict(workers=args.workers, scheduler=args.scheduler, progress=not args.quiet)
    extra = {}
    if args.test == "mmrm":
        data = args.data or str(PROJECT_DATA)
        scores = _load(args, data)
        design = scores.design
        arm, visit = _arm_and_visit(args, scores)
        scenario = power.mmrm_scenario(
            scores, arm, design.reference, float(visit), effect=args.effect
        )
        sims = args.sims or 1000
        table = power.simulate_mmrm_power(scenario, args.n_per_arm, sims=sims, seed=args.seed,
                                          df=args.df, alpha=args.alpha, **run)  # fmt: skip
        what = (f"MMRM contrast {arm} - {design.reference} at visit {visit:g} "
                f"(true difference {scenario.effect:.2f}, {args.df} df), from {data}")  # fmt: skip
        if args.target_power is not None:
            ss = power.mmrm_sample_size(scenario, args.target_power, sims=sims, seed=args.seed, df=args.df,
                                        alpha=args.alpha, **run)  # fmt: skip
            extra["sample_size"] = pd.DataFrame([dict(test="mmrm", alpha=args.alpha, target_power=args.target_power,
                n_per_arm=ss["n_per_arm"], power=ss["power"], mc_se=ss["mc_se"], n_normal=ss["n_normal"],
                method=f"bisection on simulated power, {sims} trials per probe")])  # fmt: skip
    else:
        if args.rates is None:
            raise IptOutcomesError(f"--test {args.test} needs --rates P_REF,P_ARM")
        (p_ref, p_arm), sims = args.rates, args.sims or 10_000
        table = power.simulate_power(p_ref, p_arm, args.n_per_arm, test=args.test, sims=sims,
                                     seed=args.seed, alpha=args.alpha, **run)  # fmt: skip
        what = f"{args.test} test of response {p_arm:.0%} vs {p_ref:.0%} (reference)"
        if args.target_power is not None:
            ss = power.sample_size(p_ref, p_arm, args.target_power, args.test, args.alpha)
            extra["sample_size"] = pd.DataFrame([dict(test=args.test, p_ref=p_ref, p_arm=p_arm, alpha=args.alpha,
                                                      target_power=args.target_power, **ss)])  # fmt: skip
    out = Path(args.out)
    paths = write_tables({"power": table, **extra}, out)
    save_figure(
        power_curve(table, target=args.target_power, title=f"Power: {what}"),
        out / "power_curve.png",
    )
    print(f"Power by simulation ({sims} trials per n, seed {args.seed}): {what}")
    cols = [c for c in ("n_per_arm", "power", "mc_se", "exact_power", "failed") if c in table]
    print(table[cols].round(4).to_string(index=False))
    if "sample_size" in extra:
        ss = extra["sample_size"].iloc[0]
        how = (f" (simulated power {ss['power']:.3f}, Monte-Carlo SE {ss['mc_se']:.3f}; bisection)"
               if args.test == "mmrm" else f" (exact power {ss['power']:.3f})")  # fmt: skip
        print(f"Smallest n per arm for power {args.target_power:.0%}: {int(ss['n_per_arm'])}{how}")
    print(f"Wrote {len(paths)} tables and power_curve.png to {out}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------
# multiple imputation and tipping point
# ------------------------------------------------------------------------------------------


def _cmd_mi(args) -> int:
    from ..estimands.mvn import impute_mvn, mi_contrast, tipping_point, wide_scores
    from ..report.figures import save_figure, tipping_point_plot

    scores = _load(args, args.file)
    design = scores.design
    arm, visit = _arm_and_visit(args, scores)
    if args.delta_step <= 0 or args.delta_max < 0:
        raise IptOutcomesError("--delta-step must be positive and --delta-max not negative")
    if args.imputations < 2:
        raise IptOutcomesError("--imputations must be at least 2 (50 or more is advised)")
    wide = wide_scores(scores)
    wide = wide[wide["arm"].isin([arm, design.reference])]
    if float(visit) not in wide.columns:
        raise IptOutcomesError(f"visit {visit:g} is not in the data")
    imputed = impute_mvn(wide, m=args.imputations, seed=args.seed, iterations=args.iterations,
                         workers=args.workers, progress=not args.quiet)  # fmt: skip
    pooled = mi_contrast(imputed, arm, design.reference, float(visit), args.alpha)
    half = np.arange(0.0, args.delta_max + args.delta_step / 2, args.delta_step)
    deltas = np.round(np.unique(np.r_[-half, half]), 10)
    tipping = tipping_point(wide, imputed, arm, design.reference, float(visit), deltas, args.alpha)
    out = Path(args.out)
    paths = write_tables({"mi_pooled": pooled, "tipping_point": tipping}, out)
    save_figure(tipping_point_plot(tipping, args.alpha), out / "tipping_point.png")
    r = pooled.iloc[0]
    n_imp = int(wide.loc[wide["arm"] == arm, float(visit)].isna().sum())
    print(f"Multiple imputation (MVN per arm, MAR; m = {args.imputations}, seed {args.seed}): "
          f"{arm} - {design.reference} in change at visit {visit:g}: {r['estimate']:.2f} "
          f"(95% CI {r['ci_low']:.2f} to {r['ci_high']:.2f}), p = {r['p']:.4f}, "
          f"Barnard-Rubin df {r['df']:.1f}, fraction of missing information {r['fmi']:.2f}")  # fmt: skip
    for _, t in tipping[tipping["tipping_point"]].iterrows():
        print(f"Tipping point: with {t['delta']:+g} points added to the {n_imp} imputed {arm} scores "
              f"the conclusion changes (p = {t['p']:.3f}).")  # fmt: skip
    if not tipping["tipping_point"].any():
        print(f"No tipping point within delta +-{args.delta_max:g}.")
    print(f"Wrote {len(paths)} tables and tipping_point.png to {out}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------
# report (until the full report lands: the data and a validation summary)
# ------------------------------------------------------------------------------------------


def _cmd_report(args) -> int:
    import hashlib
    import platform
    import subprocess
    from importlib.metadata import version as _v

    from ..report import build_figures, build_html, build_tables
    from ..report.tables import load_published

    t0 = time.perf_counter()
    data = Path(args.data) if args.data else PROJECT_DATA
    if args.design is None and args.data is None and PROJECT_DESIGN.exists():
        args.design = str(PROJECT_DESIGN)
    if not data.exists() and args.data is None:
        raise IptOutcomesError(
            f"{data}: not found; run `make data` (or `ipt-outcomes simulate --out {data}`)"
        )
    scores = _load(args, data)
    design = scores.design
    published = None
    pub_path = design.published
    if pub_path:
        published = load_published(pub_path)
    out = Path(args.out)
    from ..report.tables import baseline_as_rows

    scores = baseline_as_rows(scores)  # the report works on baseline rows
    tables = build_tables(scores, published=published)
    tables_dir, figures_dir = out / "tables", out / "figures"
    write_tables(tables, tables_dir)
    # stage 2 and 3 read what stage 1 wrote
    from ..report.html import read_tables

    written = read_tables(tables_dir)
    arms = design.arm_order(scores.data["arm"].unique())
    key = [float(x) for x in written["trial"].set_index("key")["value"]["key_visits"].split(",")]
    build_figures(written, scores.data, arms, key, design.visit_unit, figures_dir)
    inputs = [
        ("data", data),
        ("design", Path(args.design) if args.design else None),
        ("published figures", Path(pub_path) if pub_path else None),
    ]
    calib = data.parent / "calibration.csv"
    seed = ""
    if calib.exists():
        c = pd.read_csv(calib)
        srow = c[c["quantity"] == "seed"]
        seed = str(srow["achieved"].iloc[0]) if len(srow) else ""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "not a git checkout"
    prov = [("ipt-outcomes", __version__), ("python", platform.python_version())]
    for pkg in ("numpy", "pandas", "scipy", "statsmodels", "pandera", "plotnine", "matplotlib"):
        try:
            prov.append((pkg, _v(pkg)))
        except Exception:  # pragma: no cover - optional
            prov.append((pkg, "not installed"))
    prov.append(("seed", seed or "not a generated data set"))
    for label, path in inputs:
        if path is not None and path.exists():
            prov.append(
                (f"sha256 of {label} ({path})", hashlib.sha256(path.read_bytes()).hexdigest())
            )
    prov.append(("git commit", commit))
    prov.append(("time to build (s)", f"{time.perf_counter() - t0:.1f}"))
    prov_path = out / "provenance.csv"
    with atomic_write(prov_path) as fh:
        pd.DataFrame(prov, columns=["key", "value"]).to_csv(fh, index=False, lineterminator="\n")
    html_path = build_html(tables_dir, figures_dir, prov_path, out / "report.html")
    print(f"Wrote {html_path} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ipt-outcomes",
        description="Outcomes research and trial analysis for depression psychotherapy trials.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("validate", help="check a score file against the data contract")
    p.add_argument("file", metavar="FILE")
    _add_data_options(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("simulate", help="write the calibrated synthetic trial")
    p.add_argument("--seed", type=int, required=True, help="seed (the project's trial uses 2016)")
    p.add_argument("--out", required=True, metavar="FILE", help="CSV file to write")
    p.add_argument("--calibration", metavar="FILE", help="also write the calibration table as CSV")
    p.add_argument("--n-per-arm", type=int, metavar="N", help="scaled trial: N randomised per arm")
    p.add_argument(
        "--visits", type=_visits, metavar="V,V,...", help="visit schedule in months (from 0)"
    )
    p.add_argument(
        "--no-modelled-arm", action="store_true", help="leave out the modelled IPT+MED arm"
    )
    p.add_argument("--quiet", action="store_true", help="do not print the calibration table")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("response", help="response and remission rates and comparisons")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--missing",
        choices=MISSING_RULES,
        default="observed",
        help="missing-data rule (default observed)",
    )
    _add_out(p)
    p.add_argument(
        "--ci",
        choices=CI_METHODS,
        default="wilson",
        help="interval of a rate",
    )
    p.add_argument(
        "--rd-method",
        choices=RD_METHODS,
        default="newcombe",
        help="interval of the risk difference",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level (default 0.05)")
    _add_data_options(p)
    p.set_defaults(func=_cmd_response)

    p = sub.add_parser("mmrm", help="mixed model for repeated measures on change from baseline")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--df",
        choices=DF_METHODS,
        default="kenward-roger",
        help="degrees of freedom (default kenward-roger)",
    )
    p.add_argument(
        "--covariance",
        choices=COVARIANCE_STRUCTURES,
        default="us",
        help="within-subject covariance (default us)",
    )
    p.add_argument(
        "--method", choices=["reml", "ml"], default="reml", help="estimation (default reml)"
    )
    p.add_argument(
        "--covariate", action="append", metavar="COL", help="extra fixed effect (repeatable)"
    )
    p.add_argument("--group-by-arm", action="store_true", help="one covariance matrix per arm")
    p.add_argument(
        "--no-fallback",
        action="store_true",
        help="fail instead of falling back to a simpler covariance",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level (default 0.05)")
    _add_out(p)
    _add_data_options(p)
    p.set_defaults(func=_cmd_mmrm)

    p = sub.add_parser("lmm", help="linear mixed model (growth curve) on all scores")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--method", choices=["reml", "ml"], default="reml", help="estimation (default reml)"
    )
    p.add_argument("--random-slope", action="store_true", help="random slope of time per subject")
    p.add_argument("--quadratic", action="store_true", help="add time^2 and arm x time^2")
    p.add_argument(
        "--group-arm",
        default="PeGT",
        metavar="ARM",
        help="arm treated in therapy groups (default PeGT)",
    )
    _add_out(p)
    _add_data_options(p)
    p.set_defaults(func=_cmd_lmm)

    p = sub.add_parser("fragility", help="fragility index of a 2x2 comparison (Walsh et al. 2014)")
    p.add_argument(
        "--events", type=_pair, required=True, metavar="A,B", help="events in the two arms"
    )
    p.add_argument(
        "--totals", type=_pair, required=True, metavar="NA,NB", help="patients in the two arms"
    )
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--out", default="reports/tables", metavar="DIR")
    p.set_defaults(func=_cmd_fragility)

    p = sub.add_parser("grim", help="can a percentage (whole percent) be k/N for a whole k?")
    p.add_argument("--percent", type=float, required=True, metavar="P")
    p.add_argument("--n", type=int, nargs="+", required=True, metavar="N")
    p.add_argument("--out", default="reports/tables", metavar="DIR")
    p.set_defaults(func=_cmd_grim)

    p = sub.add_parser("mi", help="multiple imputation (MAR) and a delta-adjusted tipping point")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--arm", metavar="ARM", help="experimental arm (default: the design's first)")
    p.add_argument(
        "--visit",
        type=float,
        metavar="V",
        help="visit of the contrast (default: the design's last key visit)",
    )
    p.add_argument(
        "--imputations",
        type=int,
        default=50,
        metavar="M",
        help="number of imputations (default 50)",
    )
    p.add_argument("--iterations", type=int, default=50, metavar="K",
                   help="data-augmentation iterations per imputation (default 50)")  # fmt: skip
    p.add_argument("--seed", type=int, default=2016, metavar="S")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--delta-max", type=float, default=8.0, metavar="D",
                   help="shifts from -D to +D HAM-D points in the tipping-point grid (default 8)")  # fmt: skip
    p.add_argument("--delta-step", type=float, default=0.5, metavar="D")
    p.add_argument(
        "--workers", type=int, metavar="N", help="local processes (default: one per core)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_out(p)
    _add_data_options(p)
    p.set_defaults(func=_cmd_mi)

    p = sub.add_parser("power", help="power and sample size by simulation (response or MMRM)")
    p.add_argument("--rates", type=_rates, metavar="P_REF,P_ARM",
                   help="true response rates of the reference arm and the other arm")  # fmt: skip
    p.add_argument("--n-per-arm", type=int, nargs="+", required=True, metavar="N")
    p.add_argument("--test", choices=("chisq", "fisher", "mmrm"), default="chisq")
    p.add_argument("--sims", type=int, metavar="K",
                   help="simulated trials per n (default 10000; 1000 for mmrm)")  # fmt: skip
    p.add_argument("--seed", type=int, default=2016, metavar="S")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--target-power", type=float, metavar="P",
                   help="also find the sample size for this power (sample_size.csv)")  # fmt: skip
    p.add_argument(
        "--workers", type=int, metavar="N", help="local processes (default: one per core)"
    )
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("MMRM power (--test mmrm): the scenario is the MMRM fitted to --data")
    g.add_argument(
        "--data", metavar="FILE", help="trial to take the scenario from (default: the project's)"
    )
    g.add_argument(
        "--arm", metavar="ARM", help="arm compared with the reference (default: the design's first)"
    )
    g.add_argument(
        "--visit", type=float, metavar="V", help="key visit (default: the design's last)"
    )
    g.add_argument("--effect", type=float, metavar="D",
                   help="true difference in mean change at the key visit (default: as fitted)")  # fmt: skip
    g.add_argument("--df", choices=DF_METHODS, default="kenward-roger")
    _add_out(p)
    _add_data_options(p)
    p.set_defaults(func=_cmd_power)

    p = sub.add_parser(
        "report", help="build the reproducible HTML report (tables, figures, report.html)"
    )
    p.add_argument(
        "--data", metavar="FILE", help="score file (default: the project's synthetic trial)"
    )
    p.add_argument(
        "--out", default="reports", metavar="DIR", help="output folder (default reports)"
    )
    _add_data_options(p)
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except IptOutcomesError as err:
        if args.debug:
            raise
        print(f"ipt-outcomes: {err}", file=sys.stderr)
        return 1
    except ValueError as err:
        if args.debug:
            raise
        print(f"ipt-outcomes: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ipt-outcomes: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: say so plainly, never a traceback unless asked
        if args.debug:
            raise
        print(
            f"ipt-outcomes: internal error ({type(err).__name__}: {err}); "
            "please report it, with the output of --debug",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
