"""``ipt-outcomes validate FILE``: every problem at once, or a summary of a valid trial."""

from __future__ import annotations

import sys

from ..exceptions import DataValidationError, problem_lines
from .common import load, nothing_to_analyse
from .options import add_data_options, path_text

__all__ = ["arguments", "run", "validation_report"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE")
    add_data_options(p)


def validation_report(trial) -> str:
    """The text ``validate`` prints for a valid file."""
    import numpy as np

    from ..data.summary import assessment_counts, observed_response

    d = trial.scores
    design = trial.design
    unit = f" ({design.visit_unit})" if design.visit_unit else ""
    visits = ", ".join(trial.visit_label(v) for v in trial.visits)
    rows = f"{trial.n_file_rows} rows"
    if trial.n_rows_read > trial.n_file_rows:
        rows = f"{trial.n_file_rows} rows analysed (of {trial.n_rows_read} in the file)"
    lines = [
        f"{trial.source}: valid - {rows}, {d['subject_id'].nunique()} subjects in "
        f"{len(trial.arms)} arms; visits: {visits}",
    ]
    cols = trial.columns
    where = design.visit_text(design.baseline_visit)
    if trial.baseline_from_column:
        mode = f"baseline from column {cols.baseline!r}"
    elif cols.baseline_flag:
        mode = f"baseline = the row flagged {cols.baseline_flag} = 'Y' (as visit {where})"
    else:
        mode = f"baseline = the score at visit {where}"
    inst = design.instrument
    kind = "whole numbers" if inst.integer else "continuous"
    lines.append(
        f"Outcome {cols.outcome!r} ({inst.name}, {inst.range_text}, {kind}; {inst.better} is "
        f"better); {mode}."
    )
    remission = inst.remission_text or "not defined (no remission_min)"
    lines.append(
        f"Response = improvement >= {inst.response_improvement:.0%} from baseline; remission = "
        f"{remission}; reliability "
        f"{'not given' if inst.reliability is None else f'{inst.reliability:g}'}."
    )
    if len(design.instruments) > 1:
        names = ", ".join(
            f"{i.name}" + (" (this one)" if i == inst else "") for i in design.instruments
        )
        lines.append(f"Instruments of the design: {names}; choose one with --instrument NAME.")
    if design.inferred:
        lines.append(
            "No design file: arms and visits are taken from the data and visit values are used "
            "as times (write one with `ipt-outcomes design`)."
        )
    modelled = [trial.arm_label(a) for a in trial.arms if design.arm(a).modelled]
    if modelled:
        lines.append(f"Modelled, not observed (per the design): {', '.join(modelled)}.")
    lines.extend(problem_lines(trial.problems, trial.source))  # a few of each kind, then counted
    if len(trial.arms) == 1:
        lines.append(
            f"warning: only one arm ({trial.arms[0]}) is in the data; the analyses compare arms "
            "and need at least two"
        )
    elif trial.reference not in trial.arms:
        lines.append(
            f"warning: the reference arm {trial.reference!r} is not in the data (arms: "
            f"{', '.join(trial.arms)}); give --reference"
        )
    n_ex = len(trial.excluded_subjects)
    lines.append(
        f"{n_ex} subject{'s' if n_ex != 1 else ''} without a baseline score "
        f"{'are' if n_ex != 1 else 'is'} excluded from change-based analyses."
    )
    counts = assessment_counts(trial)
    wide = counts.pivot(index="arm", columns="visit", values="observed").reindex(list(trial.arms))
    wide = wide.reindex(columns=list(trial.visits))
    wide.columns = [trial.visit_label(v) for v in wide.columns]
    wide.insert(0, "subjects", counts.groupby("arm")["randomised"].first().reindex(wide.index))
    wide.index = [trial.arm_label(a) for a in wide.index]
    lines += ["", f"Subjects, and observed scores by visit{unit}:", wide.to_string()]
    if trial.post_visits:
        resp = observed_response(trial)
        if len(resp):
            thr = inst.response_improvement
            resp = resp.assign(
                arm=resp["arm"].map(trial.arm_label),
                visit=resp["visit"].map(trial.visit_label),
                percent=resp["percent"].map(lambda p: "" if np.isnan(p) else f"{p:.1f}"),
            )
            lines += [
                "",
                f"Response (improvement >= {thr:.0%} from baseline in {inst.name}), observed cases:",
                resp.to_string(index=False),
            ]
    return "\n".join(lines) + "\n"


def run(args) -> int:
    try:
        trial = load(args, args.file, analysable=False)
    except DataValidationError as err:
        print(str(err))
        return 1
    why = nothing_to_analyse(trial)
    if why:
        print(f"{trial.source}: valid, but nothing to analyse: {why}")
        return 1
    sys.stdout.write(validation_report(trial))
    note = _value_labels_note(args)
    if note:
        sys.stdout.write(note + "\n")
    return 0


def _value_labels_note(args) -> str:
    """SPSS/Stata value labels that were not used (the default keeps the codes)."""
    if args.value_labels != "codes":
        return ""
    from ..data.readers import value_labels_of

    labels = value_labels_of(args.file)
    if not labels:
        return ""
    parts = []
    for col, mapping in labels.items():
        shown = ", ".join(
            f"{k:g} = {v}" if isinstance(k, float) else f"{k} = {v}"
            for k, v in list(mapping.items())[:4]
        )
        parts.append(f"{col} ({shown}{', ...' if len(mapping) > 4 else ''})")
    return (
        "note: the file's value labels are not used, the stored codes are: "
        + "; ".join(parts)
        + ". Give --value-labels labels to use the labels instead."
    )
