"""How each report table is laid out: cells made of values that point into the generated tables.

A :class:`TableView` is what a table of the report shows, independent of the output format: a
header row and body rows of :class:`Cell` s, each cell a sequence of literal text (no digits)
and :class:`Ref` s - a value of one generated table (``src``, ``row``, ``col``) with the kind of
number it is (see :func:`ipt_outcomes.format.fmt`). The HTML writer tags every ``Ref`` with its
source so that a test can check it; the RTF writer prints the same text. Both call
:func:`render`, so a number looks the same in every format.

One function per table layout; :mod:`ipt_outcomes.report.tlf` says which TLF uses which.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ..format import fmt

__all__ = ["Ref", "Cell", "TableView", "render", "text_of", "VIEWS"]


# ------------------------------------------------------------------------------------------
# values and cells
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """One value of a generated table, shown as ``kind`` (a :func:`fmt` kind, or ``arm``,
    ``vlabel``, ``term``)."""

    src: str
    row: int
    col: str
    kind: str


@dataclass(frozen=True)
class Cell:
    parts: tuple = ()
    left: bool = False  # text column (left-aligned)
    head: bool = False


@dataclass
class TableView:
    header: list[Cell]
    rows: list[list[Cell]]
    row_class: list[str] = field(default_factory=list)  # "modelled", "key", "" per row

    def __post_init__(self):
        if not self.row_class:
            self.row_class = [""] * len(self.rows)


_LOOKUPS: dict[int, tuple] = {}


def _lookup(frame: pd.DataFrame, key: str, value: str, as_float: bool) -> dict:
    """``{key value: value}`` of a small table, cached for as long as the table lives."""
    import weakref

    hit = _LOOKUPS.get(id(frame))
    if hit is not None and hit[0]() is frame:
        return hit[1]
    keys = frame[key].astype(float) if as_float else frame[key].astype(str)
    table = dict(zip(keys, frame[value].astype(str), strict=True))
    _LOOKUPS[id(frame)] = (weakref.ref(frame), table)
    return table


def render(tables: dict, src: str, row: int, col: str, kind: str) -> str:
    """The text shown for ``tables[src].iloc[row][col]``: a number by :func:`fmt`, an arm code
    as its label (kind ``arm``), a visit as its label (kind ``vlabel``) or a model term with arm
    labels (kind ``term``). The report test uses the same function to check every value."""
    frame = tables[src]
    value = frame.iat[row, frame.columns.get_loc(col)]
    if kind == "arm":
        return _lookup(tables["arms"], "arm", "label", False).get(str(value), str(value))
    if kind == "vlabel":
        try:
            v = float(value)
        except (TypeError, ValueError):
            return ""
        label = _lookup(tables["visits"], "visit", "label", True).get(v)
        return label if label is not None else fmt(value, "visit")
    if kind == "term":
        labels = _lookup(tables["arms"], "arm", "label", False)
        text = re.sub(r"arm\[([^\]]*)\]", lambda m: labels.get(m.group(1), m.group(1)), str(value))
        return text.replace(":", " x ").replace("(Intercept)", "Intercept")
    return fmt(value, kind)


def text_of(cell: Cell, tables: dict) -> str:
    """The plain text of a cell (what the RTF shows)."""
    return "".join(p if isinstance(p, str) else render(tables, p.src, p.row, p.col, p.kind)
                   for p in cell.parts)  # fmt: skip


def _empty(tables, ref: Ref) -> bool:
    return render(tables, ref.src, ref.row, ref.col, ref.kind) == ""


class _B:
    """Cell builders bound to the tables (so empty values and modelled arms are handled once)."""

    def __init__(self, tables: dict):
        self.t = tables
        arms = tables["arms"]
        self.modelled = set(arms.loc[arms["modelled"].astype(str) == "True", "arm"].astype(str))
        self.reference = str(arms.loc[arms["reference"].astype(str) == "True", "arm"].iloc[0])

    def v(self, src, row, col, kind, left=False) -> Cell:
        return Cell((Ref(src, row, col, kind),), left=left)

    def arm(self, src, row, col="arm") -> Cell:
        return Cell((Ref(src, row, col, "arm"),), left=True)

    def visit(self, src, row, col="visit") -> Cell:
        return Cell((Ref(src, row, col, "vlabel"),), left=True)

    def text(self, s: str, left=True) -> Cell:
        return Cell((s,), left=left)

    def ci(self, src, row, est, lo, hi, kind) -> Cell:
        """``estimate (low to high)``; the interval left out when undefined."""
        e, a, b = (Ref(src, row, c, kind) for c in (est, lo, hi))
        if _empty(self.t, e):
            return Cell(("not defined",))
        if _empty(self.t, a) or _empty(self.t, b):
            return Cell((e,))
        return Cell((e, " (", a, " to ", b, ")"))

    def pair(self, src, row, a, b, kind, sep=", ") -> Cell:
        return Cell((Ref(src, row, a, kind), sep, Ref(src, row, b, kind)))

    def is_modelled(self, src, row, col="arm") -> bool:
        return str(self.t[src].iloc[row][col]) in self.modelled

    def p(self, src, row, col="p", col_arm="arm") -> Cell:
        if self.is_modelled(src, row, col_arm):
            return Cell(("not tested",))
        return self.v(src, row, col, "p")

    def row_class(self, src, row, col="arm") -> str:
        return "modelled" if self.is_modelled(src, row, col) else ""

    def rows(self, src, **match) -> list[int]:
        df = self.t[src]
        mask = pd.Series(True, index=df.index)
        for k, val in match.items():
            if isinstance(val, list | tuple | set):
                mask &= df[k].isin(list(val)) | df[k].astype(str).isin([str(x) for x in val])
            elif isinstance(val, int | float) and not isinstance(val, bool):
                mask &= df[k].astype(float) == float(val)
            else:
                mask &= df[k].astype(str) == str(val)
        return [int(i) for i in df.index[mask]]

    def row(self, src, **match) -> int | None:
        hit = self.rows(src, **match)
        return hit[0] if hit else None

    @property
    def key_visits(self) -> list[float]:
        v = self.t["visits"]
        return [float(x) for x in v.loc[v["key"].astype(str) == "True", "visit"]]

    def arm_header(self, code: str) -> Cell:
        i = self.row("arms", arm=code)
        return Cell((Ref("arms", i, "label", "text"),), head=True)


def _h(*names) -> list[Cell]:
    return [Cell((n,), head=True) for n in names]


def _view(b: _B, src: str, rows: list[int], columns: list[tuple[str, Callable]], arm_col="arm"):
    header = [Cell((h,), head=True) for h, _ in columns]
    body = [[fn(i) for _, fn in columns] for i in rows]
    cls = [b.row_class(src, i, arm_col) if arm_col else "" for i in rows]
    return TableView(header, body, cls)


# ------------------------------------------------------------------------------------------
# 14.1 participants
# ------------------------------------------------------------------------------------------


def consort_view(t: dict) -> TableView:
    b, s = _B(t), "consort"
    c = t[s]

    def stage(i):
        if pd.isna(c.iloc[i]["visit"]) or c.iloc[i]["stage"] != "Assessed":
            return Cell((Ref(s, i, "stage", "text"),), left=True)
        return Cell((Ref(s, i, "stage", "text"), ", ", Ref(s, i, "visit", "vlabel")), left=True)

    cols = [("Arm", lambda i: b.arm(s, i)), ("Stage", stage), ("n", lambda i: b.v(s, i, "n", "int")),
            ("Not at this stage", lambda i: b.v(s, i, "missed", "int")),
            ("Lost for good, cumulative", lambda i: b.v(s, i, "lost", "int")),
            ("First lost here", lambda i: b.v(s, i, "lost_new", "int"))]  # fmt: skip
    return _view(b, s, list(range(len(c))), cols)


def baseline_view(t: dict) -> TableView:
    b, s = _B(t), "baseline_table"
    bt, smd = t[s], t["baseline_smd"]
    arms = [str(a) for a in t["arms"]["arm"]]
    others = [a for a in arms if a != b.reference]
    header = [Cell(("Characteristic",), head=True), Cell(("Statistic",), head=True)]
    for a in arms:
        i = b.row("consort", arm=a, stage="Randomised")
        parts = [Ref("arms", b.row("arms", arm=a), "label", "text")]
        if i is not None:
            parts += [" (n = ", Ref("consort", i, "n", "int"), ")"]
        header.append(Cell(tuple(parts), head=True))
    for a in others:
        header.append(
            Cell(("SMD, ", Ref("arms", b.row("arms", arm=a), "label", "text")), head=True)
        )
    rows = []
    for var in dict.fromkeys(bt["variable"].astype(str)):
        first = b.row(s, variable=var)
        row = [Cell((Ref(s, first, "variable", "text"),), left=True),
               Cell((Ref(s, first, "statistic", "text"),), left=True)]  # fmt: skip
        for a in arms:
            i = b.row(s, variable=var, arm=a)
            if i is None:
                row.append(Cell(()))
            elif str(bt.iloc[i]["statistic"]).startswith("mean"):
                row.append(Cell((Ref(s, i, "value", "f1"), " (", Ref(s, i, "spread", "f1"), ")")))
            else:
                row.append(Cell((Ref(s, i, "value", "int"), " (", Ref(s, i, "spread", "f1"), "%)")))
        for a in others:
            j = b.row("baseline_smd", variable=var, arm=a) if len(smd) else None
            row.append(b.v("baseline_smd", j, "smd", "f2") if j is not None else Cell(()))
        rows.append(row)
    return TableView(header, rows)


def missingness_view(t: dict) -> TableView:
    b, s = _B(t), "missingness"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Randomised", lambda i: b.v(s, i, "randomised", "int")),
            ("With a score", lambda i: b.v(s, i, "observed", "int")),
            ("Missing", lambda i: b.v(s, i, "missing", "int")),
            ("Missing, %", lambda i: b.v(s, i, "percent_missing", "f1"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def published_view(t: dict) -> TableView:
    b, s = _B(t), "published_vs_reproduced"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Published, %", lambda i: b.v(s, i, "published_percent", "f0")),
            ("Reproduced, %", lambda i: b.v(s, i, "reproduced_percent", "f0")),
            ("Responders", lambda i: b.v(s, i, "responders", "int")),
            ("Assessed", lambda i: b.v(s, i, "n", "int"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def granularity_view(t: dict) -> TableView:
    b, s = _B(t), "granularity"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Published, %", lambda i: b.v(s, i, "published_percent", "f0")),
            ("Reported n", lambda i: b.v(s, i, "reported_n", "int")),
            ("Possible?", lambda i: b.v(s, i, "reported_n_consistent", "bool")),
            ("Nearest possible n", lambda i: b.v(s, i, "nearest_consistent_n", "int")),
            ("Note", lambda i: b.v(s, i, "note", "text", left=True))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


# ------------------------------------------------------------------------------------------
# 14.2 efficacy
# ------------------------------------------------------------------------------------------


def _descriptive(t: dict, s: str) -> TableView:
    b = _B(t)
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("n", lambda i: b.v(s, i, "n", "int")),
            ("Mean (SD)", lambda i: Cell((Ref(s, i, "mean", "f1"), " (", Ref(s, i, "sd", "f1"), ")"))
             if not _empty(t, Ref(s, i, "sd", "f1")) else b.v(s, i, "mean", "f1")),
            ("Median", lambda i: b.v(s, i, "median", "f1")),
            ("Quartiles", lambda i: b.pair(s, i, "q1", "q3", "f1")),
            ("Range", lambda i: b.pair(s, i, "min", "max", "f0", " to "))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def descriptive_scores_view(t: dict) -> TableView:
    return _descriptive(t, "descriptive_scores")


def descriptive_change_view(t: dict) -> TableView:
    return _descriptive(t, "descriptive_change")


def lsmeans_view(t: dict) -> TableView:
    b, s = _B(t), "mmrm_lsmeans"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("LS mean (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("SE", lambda i: b.v(s, i, "se", "f2")), ("df", lambda i: b.v(s, i, "df", "f1"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def _holm_cell(b: _B, endpoint: str, src: str, i: int) -> Cell:
    r = b.t[src].iloc[i]
    if b.is_modelled(src, i):
        return Cell(("not tested",))
    j = b.row("multiplicity", endpoint=endpoint, arm=str(r["arm"]), visit=float(r["visit"]))
    return b.v("multiplicity", j, "p_holm", "p") if j is not None else Cell(("nominal",))


def contrasts_view(t: dict) -> TableView:
    b, s = _B(t), "mmrm_contrasts"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Difference (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("SE", lambda i: b.v(s, i, "se", "f2")), ("df", lambda i: b.v(s, i, "df", "f1")),
            ("p, nominal", lambda i: b.p(s, i)), ("Holm p", lambda i: _holm_cell(b, "mmrm", s, i))]  # fmt: skip
    view = _view(b, s, list(range(len(t[s]))), cols)
    key = set(b.key_visits)
    view.row_class = [
        (c + " key").strip() if float(t[s].iloc[i]["visit"]) in key else c
        for i, c in zip(range(len(t[s])), view.row_class, strict=True)
    ]
    return view


def rates_view(t: dict) -> TableView:
    b, s, r = _B(t), "response_rates", "remission_rates"

    def rem(i, what):
        row = t[s].iloc[i]
        j = b.row(r, arm=str(row["arm"]), visit=float(row["visit"]))
        if j is None:
            return Cell(())
        if what == "k":
            return b.v(r, j, "remitters", "int")
        return b.ci(r, j, "rate", "ci_low", "ci_high", "pct")

    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("n", lambda i: b.v(s, i, "n", "int")),
            ("Responders", lambda i: b.v(s, i, "responders", "int")),
            ("Response (CI)", lambda i: b.ci(s, i, "rate", "ci_low", "ci_high", "pct")),
            ("Remitters", lambda i: rem(i, "k")), ("Remission (CI)", lambda i: rem(i, "ci"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


MEASURES = (
    (
        "risk_difference",
        "Risk difference, pp",
        "risk_difference",
        "rd_ci_low",
        "rd_ci_high",
        "pp_n",
    ),
    ("risk_ratio", "Risk ratio", "risk_ratio", "rr_ci_low", "rr_ci_high", "f2"),
    ("odds_ratio", "Odds ratio", "odds_ratio", "or_ci_low", "or_ci_high", "f2"),
)


def response_primary_view(t: dict) -> TableView:
    """Adjusted and unadjusted effects side by side, one row per arm, key visit and measure."""
    b, u, a = _B(t), "response_comparisons", "response_adjusted"
    header = _h("Arm", "Visit", "Measure", "Baseline-adjusted (CI)", "Adjusted p",
                "Unadjusted (CI)", "Fisher p", "Holm p", "NNT, unadjusted (CI)")  # fmt: skip
    rows, cls = [], []
    for i in b.rows(u, visit=b.key_visits):
        arm, visit = str(t[u].iloc[i]["arm"]), float(t[u].iloc[i]["visit"])
        for m, name, est, lo, hi, kind in MEASURES:
            j = b.row(a, arm=arm, visit=visit, contrast=m) if len(t[a]) else None
            first = m == "risk_difference"
            adj = (
                b.ci(a, j, "estimate", "ci_low", "ci_high", kind)
                if j is not None
                else Cell(("not estimated",))
            )
            adj_p = b.p(a, j) if j is not None else Cell(())
            rows.append([
                b.arm(u, i) if first else Cell((), left=True),
                b.visit(u, i) if first else Cell((), left=True),
                b.text(name), adj, adj_p, b.ci(u, i, est, lo, hi, kind),
                b.p(u, i, "p_fisher") if first else Cell(()),
                _holm_cell(b, "response", u, i) if first else Cell(()),
                Cell((Ref(u, i, "nnt_text", "text"),), left=True) if first else Cell(()),
            ])  # fmt: skip
            cls.append(b.row_class(u, i) + (" group" if first else ""))
    return TableView(header, rows, [c.strip() for c in cls])


def _comparisons(t: dict, s: str) -> TableView:
    b = _B(t)
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Events / n", lambda i: Cell((Ref(s, i, "events", "int"), " / ", Ref(s, i, "n", "int")))),
            ("Reference events / n", lambda i: Cell((Ref(s, i, "events_reference", "int"), " / ",
                                                     Ref(s, i, "n_reference", "int")))),
            ("Risk difference, pp (CI)", lambda i: b.ci(s, i, "risk_difference", "rd_ci_low", "rd_ci_high", "pp_n")),
            ("Risk ratio (CI)", lambda i: b.ci(s, i, "risk_ratio", "rr_ci_low", "rr_ci_high", "f2")),
            ("Odds ratio (CI)", lambda i: b.ci(s, i, "odds_ratio", "or_ci_low", "or_ci_high", "f2")),
            ("NNT (CI)", lambda i: Cell((Ref(s, i, "nnt_text", "text"),), left=True)),
            ("Fisher p, nominal", lambda i: b.p(s, i, "p_fisher"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def response_comparisons_view(t: dict) -> TableView:
    return _comparisons(t, "response_comparisons")


def remission_comparisons_view(t: dict) -> TableView:
    return _comparisons(t, "remission_comparisons")


def multiplicity_view(t: dict) -> TableView:
    b, s = _B(t), "multiplicity"
    cols = [("Endpoint", lambda i: b.v(s, i, "endpoint_label", "text", left=True)),
            ("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Unadjusted p", lambda i: b.v(s, i, "p", "p")),
            ("Holm p", lambda i: b.v(s, i, "p_holm", "p")),
            ("Significant after Holm", lambda i: b.v(s, i, "significant", "bool"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


# ------------------------------------------------------------------------------------------
# 14.3 sensitivity and supportive analyses
# ------------------------------------------------------------------------------------------


def sensitivity_view(t: dict) -> TableView:
    b, s = _B(t), "sensitivity"

    def est(i):
        kind = "pp_n" if t[s].iloc[i]["measure"] == "response" else "f2"
        return b.ci(s, i, "estimate", "ci_low", "ci_high", kind)

    cols = [("Analysis", lambda i: b.v(s, i, "rule_label", "text", left=True)),
            ("Measure", lambda i: b.v(s, i, "measure_label", "text", left=True)),
            ("Arm", lambda i: b.arm(s, i)), ("Estimate (CI)", est),
            ("p, nominal", lambda i: b.p(s, i))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def ancova_view(t: dict) -> TableView:
    b, s = _B(t), "ancova_hc3"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("n", lambda i: b.v(s, i, "n", "int")),
            ("Adjusted difference (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("Robust SE", lambda i: b.v(s, i, "se", "f2")), ("p, nominal", lambda i: b.p(s, i))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def hedges_view(t: dict) -> TableView:
    b, s = _B(t), "hedges_g"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("n", lambda i: b.v(s, i, "n", "int")),
            ("Reference n", lambda i: b.v(s, i, "n_reference", "int")),
            ("Hedges' g, unadjusted (CI)", lambda i: b.ci(s, i, "g", "ci_low", "ci_high", "f2"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def lmm_fixed_view(t: dict) -> TableView:
    b, s = _B(t), "lmm_fixed"
    cols = [("Term", lambda i: b.v(s, i, "term", "term", left=True)),
            ("Estimate (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("SE", lambda i: b.v(s, i, "se", "f3")), ("df", lambda i: b.v(s, i, "df", "f1")),
            ("p, nominal", lambda i: b.v(s, i, "p", "p"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols, arm_col=None)


def lmm_fit_view(t: dict) -> TableView:
    b, s = _B(t), "lmm_fit"
    cols = [("Observations", lambda i: b.v(s, i, "n_obs", "int")),
            ("Participants", lambda i: b.v(s, i, "n_subjects", "int")),
            ("Log-likelihood", lambda i: b.v(s, i, "loglik", "f2")),
            ("Variance, intercept", lambda i: b.v(s, i, "var_intercept", "f2")),
            ("Variance, residual", lambda i: b.v(s, i, "var_residual", "f2")),
            ("Converged", lambda i: b.v(s, i, "converged", "bool")),
            ("Singular", lambda i: b.v(s, i, "singular", "bool")),
            ("Fit message", lambda i: b.v(s, i, "message", "text", left=True))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols, arm_col=None)


def lmm_icc_view(t: dict) -> TableView:
    b, s = _B(t), "lmm_icc"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Therapy groups", lambda i: b.v(s, i, "n_groups", "int")),
            ("Variance, group", lambda i: b.v(s, i, "var_group", "f2")),
            ("Variance, participant", lambda i: b.v(s, i, "var_subject", "f2")),
            ("Variance, residual", lambda i: b.v(s, i, "var_residual", "f2")),
            ("Intra-group correlation", lambda i: b.v(s, i, "icc", "f3")),
            ("Singular", lambda i: b.v(s, i, "singular", "bool"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def lmm_nested_view(t: dict) -> TableView:
    b, s = _B(t), "lmm_nested"
    cols = [("Model", lambda i: b.v(s, i, "model", "text", left=True)),
            ("Term", lambda i: b.v(s, i, "term", "term", left=True)),
            ("Estimate (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("SE", lambda i: b.v(s, i, "se", "f3")), ("df", lambda i: b.v(s, i, "df", "f1")),
            ("p, nominal", lambda i: b.v(s, i, "p", "p"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols, arm_col=None)


def estimand_view(t: dict) -> TableView:
    """The estimand in the ICH E9(R1) attributes."""
    b, s = _B(t), "estimand"
    cols = [("Attribute", lambda i: b.v(s, i, "attribute", "text", left=True)),
            ("Description", lambda i: b.v(s, i, "description", "text", left=True))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols, arm_col=None)


def mi_contrasts_view(t: dict) -> TableView:
    """The primary MMRM beside reference-based multiple imputation under each strategy."""
    b, s = _B(t), "mi_contrasts"
    cols = [("Analysis", lambda i: b.v(s, i, "analysis", "text", left=True)),
            ("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Difference (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("SE", lambda i: b.v(s, i, "se", "f2")), ("p, nominal", lambda i: b.p(s, i)),
            ("Note", lambda i: b.v(s, i, "note", "text", left=True))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def tipping_point_exact_view(t: dict) -> TableView:
    """Where the conclusion changes: the shift delta at which p crosses the level."""
    b, s = _B(t), "tipping_point_exact"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Tipping point: delta", lambda i: b.v(s, i, "delta", "f2")),
            ("Difference (CI) there", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("p there", lambda i: b.v(s, i, "p", "p"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


# ------------------------------------------------------------------------------------------
# 16.2 listings
# ------------------------------------------------------------------------------------------


def dropouts_view(t: dict) -> TableView:
    b, s = _B(t), "dropouts"
    cols = [("Participant", lambda i: b.v(s, i, "subject_id", "text", left=True)),
            ("Arm", lambda i: b.arm(s, i)), ("Baseline", lambda i: b.v(s, i, "baseline", "f0")),
            ("Post-baseline scores", lambda i: b.v(s, i, "post_baseline_scores", "int")),
            ("Last visit with a score", lambda i: b.visit(s, i, "last_visit")),
            ("Last score", lambda i: b.v(s, i, "last_score", "f0"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


VIEWS: dict[str, Callable[[dict], TableView]] = {
    "consort": consort_view,
    "baseline": baseline_view,
    "missingness": missingness_view,
    "published": published_view,
    "granularity": granularity_view,
    "descriptive_scores": descriptive_scores_view,
    "descriptive_change": descriptive_change_view,
    "lsmeans": lsmeans_view,
    "contrasts": contrasts_view,
    "multiplicity": multiplicity_view,
    "rates": rates_view,
    "response_primary": response_primary_view,
    "response_comparisons": response_comparisons_view,
    "remission_comparisons": remission_comparisons_view,
    "sensitivity": sensitivity_view,
    "ancova": ancova_view,
    "hedges": hedges_view,
    "lmm_fixed": lmm_fixed_view,
    "lmm_fit": lmm_fit_view,
    "lmm_icc": lmm_icc_view,
    "lmm_nested": lmm_nested_view,
    "estimand": estimand_view,
    "mi_contrasts": mi_contrasts_view,
    "tipping_point_exact": tipping_point_exact_view,
    "dropouts": dropouts_view,
}
