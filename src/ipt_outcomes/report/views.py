"""How each report table is laid out: cells made of values that point into the generated tables.

A :class:`TableView` is what a table of the report shows, independent of the output format: a
header row and body rows of :class:`Cell` s, each cell a sequence of literal text (no digits)
and :class:`Ref` s - a value of one generated table (``src``, ``row``, ``col``) with the kind of
number it is (see :func:`ipt_outcomes.format.fmt`). The HTML writer tags every ``Ref`` with its
source so that a test can check it; the RTF writer prints the same text. Both call
:func:`render`, so a number looks the same in every format, and both lay out the view returned
by :func:`aligned`, whose numbers are decimal-aligned within each column.

One function per table layout; :mod:`ipt_outcomes.report.tlf` says which TLF uses which.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from ..format import NNT_NOT_ESTIMABLE, fmt, nnt_estimable

__all__ = ["Ref", "Cell", "TableView", "render", "text_of", "aligned", "without_cli_hints",
           "prose", "FIGURE_SPACE", "VIEWS"]  # fmt: skip

#: U+2007 FIGURE SPACE: as wide as a digit in fonts with tabular figures (Times New Roman, Arial,
#: Helvetica), so that padding with it lines numbers up on their decimal points
FIGURE_SPACE = "\u2007"


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


_CLI_FLAG = r"--[a-z][a-z-]*"


def without_cli_hints(text: str) -> str:
    """A message written for the command line, as the report says it: advice that names a
    command-line option (``--events``, ``--covariance``) is left out, since the report's reader
    changes the design file, not a command.

    Examples
    --------
    >>> without_cli_hints("no data at visit 1 (give them another strategy with --events)")
    'no data at visit 1'
    >>> without_cli_hints("the fit failed; try a simpler --covariance (e.g. toeph) or fewer arms")
    'the fit failed'
    >>> without_cli_hints("Not estimated: nothing to impute.")
    'Not estimated: nothing to impute.'
    """
    text = str(text)
    if not re.search(_CLI_FLAG, text):
        return text
    # a bracketed aside that names an option
    while True:
        new = re.sub(r"\s*\([^()]*" + _CLI_FLAG + r"[^()]*\)", "", text)
        if new == text:
            break
        text = new
    # a clause (between semicolons) that names an option; a sentence made only of one
    out = []
    for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
        if not re.search(_CLI_FLAG, sentence):
            out.append(sentence)
            continue
        keep = [c for c in re.split(r"\s*;\s*", sentence) if not re.search(_CLI_FLAG, c)]
        if keep:
            joined = "; ".join(keep).rstrip(" .")
            out.append(joined + "." if sentence.rstrip().endswith(".") else joined)
    text = " ".join(out)
    text = re.sub(r"\s*" + _CLI_FLAG, "", text)  # an option still named
    return re.sub(r"\s+([.;,])", r"\1", text).strip()


def prose(text: str) -> str:
    """A sentence of the analysis plan or a message as the report shows it: without advice on
    command-line options (:func:`without_cli_hints`) and with a true minus sign (U+2212) where a
    hyphen stands before a number ("from -8 to 8"); ranges ("0-52") keep their hyphen.

    Examples
    --------
    >>> prose("shifted by delta from -8 to 8 (range 0-52)") == "shifted by delta from \u22128 to 8 (range 0-52)"
    True
    """
    return re.sub(r"(?<![\w\-\u2212])-(?=\d)", "\u2212", without_cli_hints(text))


def _absent(value) -> bool:
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or (str(value) in ("", "nan", "None", "<NA>"))
    )


def render(tables: dict, src: str, row: int, col: str, kind: str) -> str:
    """The text shown for ``tables[src].iloc[row][col]``: a number by :func:`fmt`, an arm code
    as its label (kind ``arm``), a visit as its label (kind ``vlabel``), a model term with arm
    labels (kind ``term``) or a message as the report words it (kind ``note``, see
    :func:`without_cli_hints`). An empty value is shown as nothing, never "nan" or "None". The
    report test uses the same function to check every value."""
    frame = tables[src]
    value = frame.iat[row, frame.columns.get_loc(col)]
    if kind in ("arm", "term", "note", "text") and _absent(value):
        return ""
    if kind == "note":
        return prose(str(value))
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


def aligned(view: TableView, tables: dict) -> TableView:
    """The view with its numbers decimal-aligned within each column.

    Number cells are right-aligned, so the decimal point of their last number already lines up
    (a kind of number has a fixed number of decimals). In a cell of several numbers - ``12.3
    (4.5)``, ``-1.66 (-4.50 to 1.18)`` - every number after the first is padded on the left with
    figure spaces (U+2007, the width of a digit) to the widest of its kind in the column, so that
    each one's decimal point lines up too. Cells of another pattern (``not defined``, an
    estimate without its interval) and text columns are left alone.
    """
    rows = [list(r) for r in view.rows]
    n_cols = max([len(view.header)] + [len(r) for r in rows])
    for j in range(n_cols):
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(rows):
            if j >= len(r) or r[j].left or r[j].head:
                continue
            parts = r[j].parts
            if sum(isinstance(p, Ref) for p in parts) < 2:
                continue
            shape = tuple(p if isinstance(p, str) else None for p in parts)
            groups.setdefault(shape, []).append(i)
        for idx in groups.values():
            texts = {i: [render(tables, p.src, p.row, p.col, p.kind) if isinstance(p, Ref) else p
                         for p in rows[i][j].parts] for i in idx}  # fmt: skip
            first = next(k for k, p in enumerate(rows[idx[0]][j].parts) if isinstance(p, Ref))
            width = {k: max(len(texts[i][k]) for i in idx) for k in range(len(texts[idx[0]]))}
            for i in idx:
                old = rows[i][j]
                parts: list = []
                for k, p in enumerate(old.parts):
                    pad = width[k] - len(texts[i][k])
                    if isinstance(p, Ref) and k != first and pad > 0:
                        parts.append(FIGURE_SPACE * pad)
                    parts.append(p)
                rows[i][j] = Cell(tuple(parts), left=old.left, head=old.head)
    return TableView(list(view.header), rows, list(view.row_class))


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


def consort_view(t: dict, src: str = "consort") -> TableView:
    """Participant flow (CONSORT 2010): enrolment (from the design), then each arm's allocation,
    follow-up by visit (with losses and their reasons) and analysis."""
    b, s = _B(t), src
    c = t[s]
    enrol = t.get("consort_enrolment")
    lost = t.get("consort_lost")
    header = _h("Stage", "Arm", "n", "Not assessed", "Lost to follow-up, cumulative",
                "Newly lost to follow-up")  # fmt: skip
    none = Cell((), left=True)
    rows, cls = [], []

    def add(stage: Cell, arm: Cell, n: Cell, *more: Cell, row_class: str = ""):
        rows.append([stage, arm, n, *(more or (Cell(()),) * 3)])
        cls.append(row_class)

    e = "consort_enrolment"
    for i in range(len(enrol) if enrol is not None else 0):
        stage = Cell((Ref(e, i, "stage", "text"),), left=True)
        if not _empty(t, Ref(e, i, "reason", "text")):
            stage = Cell(("Excluded: ", Ref(e, i, "reason", "text")), left=True)
        add(stage, none, b.v(e, i, "n", "int"))
    for arm in dict.fromkeys(c["arm"].astype(str)):
        idx = b.rows(s, arm=arm)
        for i in idx:
            r = c.iloc[i]
            text = Ref(s, i, "stage", "text")
            stage = Cell((text,), left=True)
            if r["stage"] == "Assessed" and not pd.isna(r["visit"]):
                stage = Cell((text, ", ", Ref(s, i, "visit", "vlabel")), left=True)
            if i == idx[-1] and lost is not None:  # reasons for loss before the analysis
                for k in b.rows("consort_lost", arm=arm):
                    add(Cell(("Lost to follow-up: ", Ref("consort_lost", k, "reason", "text")),
                             left=True), b.arm("consort_lost", k),
                        b.v("consort_lost", k, "n", "int"),
                        row_class=b.row_class("consort_lost", k))  # fmt: skip
            if r["stage"] == "Assessed":
                add(stage, b.arm(s, i), b.v(s, i, "n", "int"), b.v(s, i, "missed", "int"),
                    b.v(s, i, "lost", "int"), b.v(s, i, "lost_new", "int"),
                    row_class=b.row_class(s, i))  # fmt: skip
            elif r["step"] == 2:
                add(stage, b.arm(s, i), b.v(s, i, "n", "int"), b.v(s, i, "missed", "int"),
                    Cell(()), Cell(()), row_class=b.row_class(s, i))  # fmt: skip
            else:
                add(stage, b.arm(s, i), b.v(s, i, "n", "int"), row_class=b.row_class(s, i))
            if i == idx[-1] and not _empty(t, Ref(s, i, "reason", "text")):
                add(Cell(("Excluded from the analysis: ", Ref(s, i, "reason", "text")), left=True),
                    b.arm(s, i), b.v(s, i, "missed", "int"), row_class=b.row_class(s, i))  # fmt: skip
    return TableView(header, rows, cls)


def baseline_view(t: dict, src: str = "baseline_table") -> TableView:
    b, s = _B(t), src
    bt, smd = t[s], t["baseline_smd"]
    arms = [str(a) for a in t["arms"]["arm"]]
    others = [a for a in arms if a != b.reference]
    header = [Cell(("Characteristic",), head=True), Cell(("Statistic",), head=True)]
    for a in arms:
        i = b.row("consort", arm=a, step=1)
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


def missingness_view(t: dict, src: str = "missingness") -> TableView:
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Randomised", lambda i: b.v(s, i, "randomised", "int")),
            ("With a score", lambda i: b.v(s, i, "observed", "int")),
            ("Missing", lambda i: b.v(s, i, "missing", "int")),
            ("Missing, %", lambda i: b.v(s, i, "percent_missing", "f1"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def published_view(t: dict, src: str = "published_vs_reproduced") -> TableView:
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Published, %", lambda i: b.v(s, i, "published_percent", "f0")),
            ("Reproduced, %", lambda i: b.v(s, i, "reproduced_percent", "f0")),
            ("Responders", lambda i: b.v(s, i, "responders", "int")),
            ("Assessed", lambda i: b.v(s, i, "n", "int"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def granularity_view(t: dict, src: str = "granularity") -> TableView:
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Published, %", lambda i: b.v(s, i, "published_percent", "f0")),
            ("Reported n", lambda i: b.v(s, i, "reported_n", "int")),
            ("Possible?", lambda i: b.v(s, i, "reported_n_consistent", "bool")),
            ("Nearest possible n", lambda i: b.v(s, i, "nearest_consistent_n", "int")),
            ("Note", lambda i: b.v(s, i, "note", "text", left=True))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


# ------------------------------------------------------------------------------------------
# 14.2 efficacy


def populations_view(t: dict, src: str = "populations") -> TableView:
    """Each population's n per arm (modelled arms marked, outside the trial's counts)."""
    b, s = _B(t), src
    cols = [("Population", lambda i: b.v(s, i, "label", "text", left=True)),
            ("Arm", lambda i: b.arm(s, i)), ("n", lambda i: b.v(s, i, "n", "int"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


# ------------------------------------------------------------------------------------------
# 14.2 efficacy
# ------------------------------------------------------------------------------------------


def descriptive_view(t: dict, src: str) -> TableView:
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("n", lambda i: b.v(s, i, "n", "int")),
            ("Mean (SD)", lambda i: Cell((Ref(s, i, "mean", "f1"), " (", Ref(s, i, "sd", "f1"), ")"))
             if not _empty(t, Ref(s, i, "sd", "f1")) else b.v(s, i, "mean", "f1")),
            ("Median", lambda i: b.v(s, i, "median", "f1")),
            ("Quartiles", lambda i: b.pair(s, i, "q1", "q3", "f1")),
            ("Range", lambda i: b.pair(s, i, "min", "max", "f0", " to "))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def _has_col(t: dict, src: str, col: str) -> bool:
    return col in t[src].columns and t[src][col].notna().any()


def _adjusted_p(b: _B, src: str, i: int) -> Cell:
    """The multiplicity-adjusted p of a family hypothesis; empty outside the family."""
    if b.is_modelled(src, i):
        return Cell(("not tested",))
    r = Ref(src, i, "p_adjusted", "p")
    return Cell(()) if _empty(b.t, r) else Cell((r,))


def _mark_endpoint_visits(t: dict, src: str, view: TableView) -> TableView:
    if "endpoint_visit" not in t[src].columns:
        return view
    flags = t[src]["endpoint_visit"].astype(str) == "True"
    view.row_class = [(c + " key").strip() if flags.iloc[i] else c
                      for i, c in enumerate(view.row_class)]  # fmt: skip
    return view


def _fit_column(t: dict, src: str) -> list:
    """A "Model" column when the table stacks the observed arms' fit and the modelled arm's."""
    frame = t[src]
    if "fit" not in frame.columns or not (frame["fit"].astype(str) == "modelled").any():
        return []
    words = {"observed": "observed arms", "modelled": "modelled arm with the reference"}
    return [("Model", lambda i: Cell((words.get(str(frame.iloc[i]["fit"]), ""),), left=True))]


def lsmeans_view(t: dict, src: str) -> TableView:
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), *_fit_column(t, s)]
    if "visit" in t[s].columns:
        cols.append(("Visit", lambda i: b.visit(s, i)))
    if "n" in t[s].columns:
        cols.append(("n", lambda i: b.v(s, i, "n", "int")))
    cols += [("LS mean (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
             ("SE", lambda i: b.v(s, i, "se", "f2"))]  # fmt: skip
    if _has_col(t, s, "df") and not (t[s]["df"].astype(float) == float("inf")).all():
        cols.append(("df", lambda i: b.v(s, i, "df", "f1")))
    return _mark_endpoint_visits(t, s, _view(b, s, list(range(len(t[s]))), cols))


def contrasts_view(t: dict, src: str) -> TableView:
    """Differences against the reference at each visit (MMRM), endpoint visits marked."""
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Difference (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("SE", lambda i: b.v(s, i, "se", "f2")), ("df", lambda i: b.v(s, i, "df", "f1")),
            ("p, nominal", lambda i: b.p(s, i))]  # fmt: skip
    if _has_col(t, s, "p_adjusted"):
        cols.append(("Adjusted p", lambda i: _adjusted_p(b, s, i)))
    return _mark_endpoint_visits(t, s, _view(b, s, list(range(len(t[s]))), cols))


def differences_view(t: dict, src: str) -> TableView:
    """Differences against the reference (ANCOVA, multiple imputation, missing-data rules)."""
    b, s = _B(t), src
    frame = t[s]
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i))]
    if "n" in frame.columns:
        cols.append(("n", lambda i: b.v(s, i, "n", "int")))
    cols += [("Difference (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
             ("SE", lambda i: b.v(s, i, "se", "f2"))]  # fmt: skip
    if _has_col(t, s, "df") and not (frame["df"].astype(float) == float("inf")).all():
        cols.append(("df", lambda i: b.v(s, i, "df", "f1")))
    cols.append(("p, nominal", lambda i: b.p(s, i)))
    if _has_col(t, s, "p_adjusted"):
        cols.append(("Adjusted p", lambda i: _adjusted_p(b, s, i)))
    return _view(b, s, list(range(len(frame))), cols)


def rates_view(t: dict, src: str) -> TableView:
    b, s = _B(t), src
    events = "responders" if "responders" in t[s].columns else "remitters"
    word = "Responders" if events == "responders" else "Remitters"
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("n", lambda i: b.v(s, i, "n", "int")), (word, lambda i: b.v(s, i, events, "int")),
            ("Rate (CI)", lambda i: b.ci(s, i, "rate", "ci_low", "ci_high", "pct"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def comparisons_view(t: dict, src: str) -> TableView:
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Events / n", lambda i: Cell((Ref(s, i, "events", "int"), " / ", Ref(s, i, "n", "int")))),
            ("Reference events / n", lambda i: Cell((Ref(s, i, "events_reference", "int"), " / ",
                                                     Ref(s, i, "n_reference", "int")))),
            ("Risk difference, pp (CI)", lambda i: b.ci(s, i, "risk_difference", "rd_ci_low", "rd_ci_high", "pp_n")),
            ("Risk ratio (CI)", lambda i: b.ci(s, i, "risk_ratio", "rr_ci_low", "rr_ci_high", "f2")),
            ("Odds ratio (CI)", lambda i: b.ci(s, i, "odds_ratio", "or_ci_low", "or_ci_high", "f2")),
            ("NNT (CI)", lambda i: _nnt(b, s, i)),
            ("Fisher p, nominal", lambda i: b.p(s, i, "p_fisher"))]  # fmt: skip
    if _has_col(t, s, "p_adjusted"):
        cols.append(("Adjusted p", lambda i: _adjusted_p(b, s, i)))
    return _view(b, s, list(range(len(t[s]))), cols)


def _nnt(b: _B, src: str, i: int) -> Cell:
    """The NNT with its interval when the risk difference's interval excludes zero, else "not
    estimable with useful precision" (:func:`ipt_outcomes.format.nnt_estimable`)."""
    r = b.t[src].iloc[i]
    if _empty(b.t, Ref(src, i, "nnt", "nnt")):
        return Cell(())
    if not nnt_estimable(r.get("rd_ci_low"), r.get("rd_ci_high")):
        return Cell((NNT_NOT_ESTIMABLE,), left=True)
    lo, hi = "nnt_ci_low", "nnt_ci_high"
    if abs(float(r[lo])) > abs(float(r[hi])):
        lo, hi = hi, lo
    return Cell((Ref(src, i, "nnt", "nnt"), " (", Ref(src, i, lo, "nnt_n"), " to ",
                 Ref(src, i, hi, "nnt_n"), ")"))  # fmt: skip


RC_CATEGORIES = {"recovered": "Recovered", "improved": "Improved", "unchanged": "Unchanged",
                 "deteriorated": "Deteriorated", "harmed": "Harmed"}  # fmt: skip
RC_OUTCOMES = {"recovered": "Recovered", "reliable_improvement": "Reliable improvement",
               "reliable_deterioration": "Reliable deterioration"}  # fmt: skip


def rc_rates_view(t: dict, src: str) -> TableView:
    """Reliable change: the share of each category per arm and visit."""
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Category", lambda i: b.text(RC_CATEGORIES.get(str(t[s].iloc[i]["category"]),
                                                            str(t[s].iloc[i]["category"])))),
            ("n", lambda i: b.v(s, i, "n", "int")), ("Count", lambda i: b.v(s, i, "count", "int")),
            ("Rate (CI)", lambda i: b.ci(s, i, "rate", "ci_low", "ci_high", "pct"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def rc_comparisons_view(t: dict, src: str) -> TableView:
    """Reliable change: each arm against the reference for recovery, reliable improvement and
    reliable deterioration."""
    b, s = _B(t), src
    cols = [("Outcome", lambda i: b.text(RC_OUTCOMES.get(str(t[s].iloc[i]["outcome"]),
                                                         str(t[s].iloc[i]["outcome"])))),
            ("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Events / n", lambda i: Cell((Ref(s, i, "events", "int"), " / ", Ref(s, i, "n", "int")))),
            ("Risk difference, pp (CI)", lambda i: b.ci(s, i, "risk_difference", "rd_ci_low", "rd_ci_high", "pp_n")),
            ("Odds ratio (CI)", lambda i: b.ci(s, i, "odds_ratio", "or_ci_low", "or_ci_high", "f2")),
            ("Fisher p, nominal", lambda i: b.p(s, i, "p_fisher"))]  # fmt: skip
    if _has_col(t, s, "p_adjusted"):
        cols.append(("Adjusted p", lambda i: _adjusted_p(b, s, i)))
    return _view(b, s, list(range(len(t[s]))), cols)


MEASURE_NAMES = {"risk_difference": ("Risk difference, pp", "pp_n"),
                 "risk_ratio": ("Risk ratio", "f2"), "odds_ratio": ("Odds ratio", "f2")}  # fmt: skip


def effects_view(t: dict, src: str) -> TableView:
    """Covariate-adjusted marginal effects: one row per arm, visit and measure."""
    b, s = _B(t), src
    frame = t[s]
    adjusted = _has_col(t, s, "p_adjusted")
    header = _h("Arm", "Visit", "Measure", "Estimate (CI)", "SE", "p, nominal",
                *(["Adjusted p"] if adjusted else []), "Note")  # fmt: skip
    rows, cls = [], []
    for i in range(len(frame)):
        m = str(frame.iloc[i]["contrast"])
        name, kind = MEASURE_NAMES.get(m, (m, "f2"))
        first = m == "risk_difference"
        row = [b.arm(s, i) if first else Cell((), left=True),
               b.visit(s, i) if first else Cell((), left=True), b.text(name),
               b.ci(s, i, "estimate", "ci_low", "ci_high", kind),
               b.v(s, i, "se", "pp_n" if kind == "pp_n" else "f3"), b.p(s, i)]  # fmt: skip
        if adjusted:
            row.append(_adjusted_p(b, s, i) if first else Cell(()))
        row.append(b.v(s, i, "note", "text", left=True) if "note" in frame else Cell(()))
        rows.append(row)
        cls.append((b.row_class(s, i) + (" group" if first else "")).strip())
    return TableView(header, rows, cls)


def _measure_kind(table, i) -> str:
    """A family estimate's format: a risk difference in percentage points, else two decimals."""
    measure = table["measure"].iloc[i] if "measure" in table else ""
    return "pp" if measure == "risk difference" else "f2"


def multiplicity_view(t: dict, src: str = "multiplicity") -> TableView:
    b, s = _B(t), src
    cols = [("Order", lambda i: b.v(s, i, "order", "int")),
            ("Endpoint", lambda i: b.v(s, i, "endpoint_label", "text", left=True)),
            ("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Estimate", lambda i: b.v(s, i, "estimate", _measure_kind(t[s], i))),
            ("Raw p", lambda i: b.v(s, i, "p", "p")),
            ("Adjusted p", lambda i: b.v(s, i, "p_adjusted", "p")),
            ("Rejected", lambda i: b.v(s, i, "rejected", "bool"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def lmm_fixed_view(t: dict, src: str) -> TableView:
    b, s = _B(t), src
    cols = [("Term", lambda i: b.v(s, i, "term", "term", left=True)),
            ("Estimate (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("SE", lambda i: b.v(s, i, "se", "f3")), ("df", lambda i: b.v(s, i, "df", "f1")),
            ("p, nominal", lambda i: b.v(s, i, "p", "p"))]  # fmt: skip
    if _has_col(t, s, "p_adjusted"):
        cols.append(("Adjusted p", lambda i: b.v(s, i, "p_adjusted", "p")))
    return _view(b, s, list(range(len(t[s]))), cols, arm_col=None)


def lmm_fit_view(t: dict, src: str) -> TableView:
    b, s = _B(t), src
    cols = [("Observations", lambda i: b.v(s, i, "n_obs", "int")),
            ("Participants", lambda i: b.v(s, i, "n_subjects", "int")),
            ("Log-likelihood", lambda i: b.v(s, i, "loglik", "f2")),
            ("Variance, intercept", lambda i: b.v(s, i, "var_intercept", "f2")),
            ("Variance, residual", lambda i: b.v(s, i, "var_residual", "f2")),
            ("Converged", lambda i: b.v(s, i, "converged", "bool")),
            ("Singular", lambda i: b.v(s, i, "singular", "bool")),
            ("Fit message", lambda i: b.v(s, i, "message", "text", left=True))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols, arm_col=None)


def lmm_icc_view(t: dict, src: str) -> TableView:
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Therapy groups", lambda i: b.v(s, i, "n_groups", "int")),
            ("Variance, group", lambda i: b.v(s, i, "var_group", "f2")),
            ("Variance, participant", lambda i: b.v(s, i, "var_subject", "f2")),
            ("Variance, residual", lambda i: b.v(s, i, "var_residual", "f2")),
            ("Intra-group correlation", lambda i: b.v(s, i, "icc", "f3")),
            ("Singular", lambda i: b.v(s, i, "singular", "bool"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def lmm_nested_view(t: dict, src: str) -> TableView:
    b, s = _B(t), src
    cols = [("Model", lambda i: b.v(s, i, "model", "text", left=True)),
            ("Term", lambda i: b.v(s, i, "term", "term", left=True)),
            ("Estimate (CI)", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("SE", lambda i: b.v(s, i, "se", "f3")), ("df", lambda i: b.v(s, i, "df", "f1")),
            ("p, nominal", lambda i: b.v(s, i, "p", "p"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols, arm_col=None)


def tipping_point_exact_view(t: dict, src: str) -> TableView:
    """Where the conclusion changes: the shift delta at which p crosses the level."""
    b, s = _B(t), src
    cols = [("Arm", lambda i: b.arm(s, i)), ("Visit", lambda i: b.visit(s, i)),
            ("Tipping point: delta", lambda i: b.v(s, i, "delta", "f2")),
            ("Difference (CI) there", lambda i: b.ci(s, i, "estimate", "ci_low", "ci_high", "f2")),
            ("p there", lambda i: b.v(s, i, "p", "p"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


def subgroup_view(t: dict, src: str, interaction: str = "") -> TableView:
    """Per-level differences, each level's block ending with the interaction test's p."""
    b, s = _B(t), src
    frame = t[s]
    header = _h("Subgroup level", "Arm", "Visit", "Difference (CI)", "SE", "p, nominal",
                "Interaction p")  # fmt: skip
    inter = t.get(interaction)
    rows, cls = [], []
    for i in range(len(frame)):
        j = None
        if inter is not None and len(inter):
            j = b.row(interaction, visit=float(frame.iloc[i]["visit"]))
        first_of_visit = i == 0 or float(frame.iloc[i - 1]["visit"]) != float(
            frame.iloc[i]["visit"]
        )
        rows.append([b.v(s, i, "level", "text", left=True), b.arm(s, i), b.visit(s, i),
                     b.ci(s, i, "estimate", "ci_low", "ci_high", "f2"), b.v(s, i, "se", "f2"),
                     b.v(s, i, "p", "p"),
                     b.v(interaction, j, "p", "p") if j is not None and first_of_visit
                     else Cell(())])  # fmt: skip
        cls.append(b.row_class(s, i))
    return TableView(header, rows, cls)


# ------------------------------------------------------------------------------------------
# 16.2 listings
# ------------------------------------------------------------------------------------------


def dropouts_view(t: dict, src: str = "dropouts") -> TableView:
    b, s = _B(t), src
    cols = [("Participant", lambda i: b.v(s, i, "subject_id", "text", left=True)),
            ("Arm", lambda i: b.arm(s, i)), ("Baseline", lambda i: b.v(s, i, "baseline", "f0")),
            ("Post-baseline scores", lambda i: b.v(s, i, "post_baseline_scores", "int")),
            ("Last visit with a score", lambda i: b.visit(s, i, "last_visit")),
            ("Last score", lambda i: b.v(s, i, "last_score", "f0"))]  # fmt: skip
    return _view(b, s, list(range(len(t[s]))), cols)


VIEWS: dict[str, Callable[..., TableView]] = {
    "consort": consort_view,
    "baseline": baseline_view,
    "populations": populations_view,
    "missingness": missingness_view,
    "published": published_view,
    "granularity": granularity_view,
    "descriptive": descriptive_view,
    "lsmeans": lsmeans_view,
    "contrasts": contrasts_view,
    "differences": differences_view,
    "rates": rates_view,
    "comparisons": comparisons_view,
    "effects": effects_view,
    "multiplicity": multiplicity_view,
    "lmm_fixed": lmm_fixed_view,
    "lmm_fit": lmm_fit_view,
    "lmm_icc": lmm_icc_view,
    "lmm_nested": lmm_nested_view,
    "tipping_point_exact": tipping_point_exact_view,
    "subgroup": subgroup_view,
    "rc_rates": rc_rates_view,
    "rc_comparisons": rc_comparisons_view,
    "dropouts": dropouts_view,
}
