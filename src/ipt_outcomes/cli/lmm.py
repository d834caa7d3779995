"""``ipt-outcomes lmm FILE``: random-effects growth model, therapy-group model, ANCOVA, Hedges' g."""

from __future__ import annotations

import re
import sys

from ..output import OutputFolder
from .common import inputs_of, labelled, load, say
from .options import add_data_options, add_out

__all__ = ["arguments", "run"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--method", choices=["reml", "ml"], default="reml", help="estimation (default reml)"
    )
    p.add_argument("--random-slope", action="store_true", help="random slope of time per subject")
    p.add_argument("--quadratic", action="store_true", help="add time^2 and arm x time^2")
    p.add_argument("--df", choices=("satterthwaite", "kenward-roger"), default="satterthwaite",
                   help="df of the fixed effects: satterthwaite (lmerTest, default) or "
                        "kenward-roger (pbkrtest: adjusted SE; needs --method reml)")  # fmt: skip
    p.add_argument("--group-arm", metavar="ARM",
                   help="arm treated in therapy groups (default: the arm with a therapy_group column)")  # fmt: skip
    add_out(p)
    add_data_options(p)


def run(args) -> int:
    from ..format import format_frame
    from ..models.ancova import ancova_by_visit
    from ..models.lmm import (
        group_therapy_arm,
        growth_model,
        lmm_fit_table,
        partially_nested_model,
    )
    from ..stats.effect_sizes import hedges_g

    if args.df == "kenward-roger" and args.method != "reml":
        raise ValueError(
            "--df kenward-roger needs --method reml (pbkrtest's Kenward-Roger is REML)"
        )
    trial = load(args, args.file)
    res = growth_model(
        trial,
        method=args.method,
        random_slope=args.random_slope,
        quadratic=args.quadratic,
        df=args.df,
    )
    fixed = res.fixed_effects()
    tables = {"lmm_fixed": fixed, "lmm_fit": lmm_fit_table(res, args.random_slope)}
    group_arm = args.group_arm or group_therapy_arm(trial)
    if group_arm is not None:
        nested, icc, _fits = partially_nested_model(trial, group_arm=group_arm, df=args.df)
        tables["lmm_nested"] = nested
        tables["lmm_icc"] = icc
    tables["ancova_hc3"] = ancova_by_visit(trial, trial.key_visits)
    tables["hedges_g"] = hedges_g(trial, trial.key_visits)
    with OutputFolder(args.out, inputs_of(args, args.file)) as out:
        out.write_tables(labelled(tables, trial))
    unit = trial.design.visit_unit or "visit value"
    say(
        f"Linear mixed model of {trial.instrument.name} ({args.method.upper()}, random intercept"
        f"{' and slope' if args.random_slope else ''}{', quadratic time' if args.quadratic else ''}; "
        f"time in {unit}; {args.df} df): {res.n_obs} observations, {res.n_subjects} subjects, "
        f"log-likelihood {res.loglik:.3f}; converged {res.converged} (max |gradient| "
        f"{res.max_abs_gradient:.1e}, Hessian {'positive definite' if res.hessian_pd else 'not positive definite'}); "
        f"singular {res.singular}"
    )
    if res.message:
        say(f"Fit: {res.message}")
    shown = fixed.assign(  # arms by their labels on screen; the CSV keeps the model's names
        term=fixed["term"].map(
            lambda t: re.sub(r"arm\[(.*?)\]", lambda m: trial.arm_label(m.group(1)), str(t))
        )
    )
    say(format_frame(shown, 4).to_string(index=False))
    inst = trial.instrument
    say(f"{inst.better.capitalize()} {inst.name} scores are better: in the arm terms "
        f"{inst.favours_note()} (an arm-by-time term: a steeper "
        f"{'rise' if inst.higher_is_better else 'fall'} than in the reference).")  # fmt: skip
    if "lmm_icc" in tables:
        icc = tables["lmm_icc"].iloc[0]
        say(
            f"Therapy-group intra-group correlation ({trial.arm_label(group_arm)}): {icc['icc']:.3f}"
            f"{' (group variance at zero: singular fit)' if icc['singular'] else ''}"
        )
    print(f"Wrote {len(tables)} tables to {args.out}", file=sys.stderr)
    return 0
