"""Teaching worksheets: one definition, two HTML versions (student and instructor key).

A :class:`Worksheet` is a list of :class:`Task` s. What a task *gives* (question, data table,
figure) appears in both versions; what it *asks for* (answer text, answer table, answer figure)
appears only in the key, while the student version has an empty answer box in its place. Both
versions are rendered by :func:`render_worksheet` from the same object and one jinja2 template
(``templates/worksheet.html.j2``, autoescaping on), so they cannot drift apart.

The worksheets themselves (``analyses/teaching/``) compute nothing the report already computed:
a number they share with the report is quoted from the report's tables by
:class:`ReportNumbers`, rendered by the report's own formatter and tagged with its source
(table, row, column), exactly as in the report, so that a test can check that the two agree.
Text may be a plain string (escaped) or :class:`markupsafe.Markup` holding such quotes.

Also here: risk-of-bias assessment with the Cochrane RoB 2 tool (Sterne et al., BMJ
2019;366:l4898), read from a small TOML file (:func:`load_rob2`), with the tool's overall
judgement (:func:`rob2_overall`) and a traffic-light figure (:func:`rob2_traffic_light`).
"""

from __future__ import annotations

import base64
import io
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from markupsafe import Markup, escape

from ..exceptions import DesignError
from ..format import format_frame

__all__ = [
    "Task",
    "Worksheet",
    "ReportNumbers",
    "read_report_tables",
    "frame",
    "render_worksheet",
    "render_index",
    "ROB2_DOMAINS",
    "ROB2_LEVELS",
    "load_rob2",
    "rob2_overall",
    "rob2_traffic_light",
]

VERSIONS = ("student", "key")
TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class Task:
    """One question of a worksheet.

    ``question``, ``table`` and ``figure`` are given to students; ``answer``, ``answer_table``
    and ``answer_figure`` are the instructor's key. Paragraphs are separated by a blank line.
    """

    question: str
    answer: str = ""
    table: pd.DataFrame | None = None
    figure: object | None = None
    answer_table: pd.DataFrame | None = None
    answer_figure: object | None = None


@dataclass
class Worksheet:
    """A worksheet: its tasks, what it teaches, for whom and how long it takes.

    ``objectives`` are the learning objectives ("After this worksheet you can ..."), ``level``
    the audience it is written for and ``minutes`` the time a class needs; all three are shown
    at the top of both versions and in the indexes.
    """

    number: int
    slug: str
    title: str
    goal: str
    tasks: list[Task]
    sources: list[str] = field(default_factory=list)
    data_note: str = ""  # where the data come from (synthetic, ...), shown under the goal
    objectives: list[str] = field(default_factory=list)
    level: str = ""
    minutes: int | None = None

    @property
    def stem(self) -> str:
        return f"{self.number:02d}_{self.slug}"

    def filename(self, version: str) -> str:
        """Where a version is written, relative to the teaching folder: students' sheets at
        the top, instructor keys in ``keys/``."""
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
        return f"{self.stem}_student.html" if version == "student" else f"keys/{self.stem}_key.html"


class ReportNumbers:
    """Numbers quoted from the report's tables, shown exactly as the report shows them.

    Parameters
    ----------
    tables : dict of DataFrame
        The report's tables: as ``ipt-outcomes report`` builds them (its analysis plan run and
        laid out), or a built report's ``tables`` folder read by :func:`read_report_tables`.
        A table of several fits (``fit`` = ``observed``, ``modelled``) holds the reference arm
        in each: match ``fit`` too.

    Examples
    --------
    >>> import pandas as pd
    >>> t = {"rates": pd.DataFrame({"arm": ["A"], "visit": [3.0], "rate": [0.421]})}
    >>> n = ReportNumbers(t)
    >>> n.text("rates", "rate", "pct", arm="A", visit=3)
    '42.1%'
    >>> str(n.q("rates", "rate", "pct", arm="A", visit=3))
    '<span class="v" data-src="rates" data-row="0" data-col="rate" data-fmt="pct">42.1%</span>'
    """

    def __init__(self, tables: dict):
        self.tables = tables

    def row(self, src: str, **match) -> int:
        """The first row of ``src`` matching every ``column=value`` (numbers compared as numbers)."""
        df = self.tables[src]
        mask = pd.Series(True, index=df.index)
        for k, val in match.items():
            numeric = isinstance(val, int | float) and not isinstance(val, bool)
            mask &= df[k].astype(float) == float(val) if numeric else df[k].astype(str) == str(val)
        hit = df.index[mask]
        if not len(hit):
            raise KeyError(f"no row of {src} with {match}")
        return int(hit[0])

    def value(self, src: str, col: str, **match):
        v = self.tables[src].iloc[self.row(src, **match)][col]
        return v.item() if hasattr(v, "item") else v

    def text(self, src: str, col: str, kind: str, **match) -> str:
        from ..report.views import render

        return render(self.tables, src, self.row(src, **match), col, kind)

    def q(self, src: str, col: str, kind: str, **match) -> Markup:
        """The value as the report shows it, tagged with its source as in the report."""
        row = self.row(src, **match)
        return Markup(
            '<span class="v" data-src="{}" data-row="{}" data-col="{}" data-fmt="{}">{}</span>'
        ).format(src, row, col, kind, self.text(src, col, kind, **match))

    def tlf(self, name: str) -> Markup:
        """A TLF's label ("Table 14.2.6"), tagged."""
        return self.q("tlf", "label", "text", name=name)


def _column_from_text(col: pd.Series, text: bool) -> pd.Series:
    """One column read as text, typed as the report held it: text stays text (an empty cell
    an empty string), a column of True/False becomes bool, a column of numbers (empty cells
    missing) numeric."""
    from ..output import FORMULA_START

    guarded = col.str.startswith("'") & col.str[1:2].isin(list(FORMULA_START))
    col = col.where(~guarded, col.str[1:])  # undo the writer's guard against CSV formulas
    if text:
        return col
    filled = col[col != ""]
    if len(filled) and filled.isin(["True", "False"]).all():
        return col.map({"True": True, "False": False, "": None}).astype(
            bool if len(filled) == len(col) else object
        )
    try:
        return pd.to_numeric(col.replace("", float("nan")))
    except (ValueError, TypeError):
        return col


def read_report_tables(tables_dir) -> dict[str, pd.DataFrame]:
    r"""The tables of a built report (``reports/tables/*.csv``), typed as the report held them.

    Every cell is read as text first, so no text is ever taken for a missing value (an arm
    coded ``NA`` or ``null`` stays that arm); then each column that is not one of the report's
    text columns and holds only numbers (or only True/False) is converted. Use it rather than
    :func:`pandas.read_csv` with its defaults, which turns ``NA``, ``N/A``, ``null`` and
    ``nan`` into missing values.

    Parameters
    ----------
    tables_dir : str or Path
        The ``tables`` folder of a report (what ``ipt-outcomes report`` wrote).

    Returns
    -------
    dict of DataFrame
        One table per ``*.csv``, keyed by the file's stem.

    Raises
    ------
    IptOutcomesError
        The folder does not exist or holds no table.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "rates.csv").write_text(
    ...         "arm,visit,rate,note,significant\nNA,3,0.42,,True\nTAU,3,0.61,,False\n")
    ...     t = read_report_tables(tmp)["rates"]
    >>> t["arm"].tolist(), t["visit"].tolist(), t["note"].tolist(), t["significant"].tolist()
    (['NA', 'TAU'], [3, 3], ['', ''], [True, False])
    """
    from ..exceptions import IptOutcomesError
    from ..report.html import TEXT_COLUMNS

    paths = sorted(Path(tables_dir).glob("*.csv"))
    if not paths:
        raise IptOutcomesError(f"{tables_dir}: no report tables (*.csv) there; run `make report`")
    out = {}
    for path in paths:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        out[path.stem] = pd.DataFrame(
            {c: _column_from_text(raw[c], c in TEXT_COLUMNS) for c in raw.columns},
            index=raw.index,
        )
    return out


def frame(columns) -> pd.DataFrame:
    """A table for a task from ``{column: values}`` or a list of row dicts; a column holding
    quotes from the report (:class:`~markupsafe.Markup`) keeps them as they are.

    Examples
    --------
    >>> t = frame([{"x": Markup("<b>1</b>"), "y": 2.5}])
    >>> type(t["x"].iloc[0]).__name__, float(t["y"].iloc[0])
    ('Markup', 2.5)
    """
    if isinstance(columns, list):
        columns = {k: [r[k] for r in columns] for k in columns[0]} if columns else {}
    out = {}
    for k, values in columns.items():
        values = list(values)
        quoted = any(isinstance(v, Markup) for v in values)
        out[k] = pd.Series(values, dtype=object) if quoted else values
    return pd.DataFrame(out)


def _paragraphs(text) -> list[Markup]:
    text = text if isinstance(text, Markup) else escape(str(text))
    return [p.strip() for p in text.strip().split("\n\n") if p.strip()]


@dataclass
class _Cell:
    text: str
    left: bool = False


def _table(df: pd.DataFrame) -> dict:
    """Header and rows of a table, every number formatted by the one formatter; a cell that
    is already :class:`~markupsafe.Markup` (a quote from the report) is kept as it is."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]  # fmt: skip
    # p-values and counts by the formatter's column rules, other numbers as written (auto)
    plain = {c: "auto" for c, num in zip(df.columns, numeric, strict=True)
             if num and not str(c).lower().startswith("p")}  # fmt: skip
    shown = format_frame(df, kinds=plain)
    header = [_Cell(str(c), not num) for c, num in zip(df.columns, numeric, strict=True)]
    rows = []
    for raw, rec in zip(df.itertuples(index=False), shown.itertuples(index=False), strict=True):
        rows.append([_Cell(r, False) if isinstance(r, Markup) else _Cell(v, not num)
                     for r, v, num in zip(raw, rec, numeric, strict=True)])  # fmt: skip
    return {"header": header, "rows": rows}


def _figure(fig) -> str:
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    buf = io.BytesIO()
    drawn = fig.draw()
    try:
        drawn.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    finally:
        plt.close(drawn)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
        lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )  # fmt: skip


def render_worksheet(ws: Worksheet, version: str) -> str:
    """The worksheet as one self-contained HTML page.

    Parameters
    ----------
    ws : Worksheet
    version : {"student", "key"}
        The student version shows an empty answer box where the key shows the answer.
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    key = version == "key"
    tasks = []
    for task in ws.tasks:
        tasks.append(
            dict(
                question=_paragraphs(task.question),
                table=_table(task.table) if task.table is not None else None,
                figure=_figure(task.figure) if task.figure is not None else None,
                answer=_paragraphs(task.answer) if key else [],
                answer_table=_table(task.answer_table)
                if key and task.answer_table is not None
                else None,
                answer_figure=_figure(task.answer_figure)
                if key and task.answer_figure is not None
                else None,
            )
        )
    page = _environment().get_template("worksheet.html.j2")
    ws_view = dict(number=ws.number, title=ws.title, goal=ws.goal, data_note=ws.data_note,
                   sources=list(dict.fromkeys(ws.sources)), objectives=list(ws.objectives),
                   level=ws.level, minutes=ws.minutes)  # fmt: skip
    return page.render(ws=ws_view, tasks=tasks, key=key,
                       label="Instructor key" if key else "Student version")  # fmt: skip


def render_index(worksheets, note: str = "", version: str = "student") -> str:
    """An index page: the students' (linking the student versions only) or the instructors'
    (``version="key"``, written in ``keys/``, linking each key and its student version).

    Examples
    --------
    >>> ws = Worksheet(1, "demo", "Demo", "goal", [], level="introductory", minutes=30)
    >>> "keys/" in render_index([ws]) or "_key" in render_index([ws])
    False
    >>> "01_demo_key.html" in render_index([ws], version="key")
    True
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    return (
        _environment()
        .get_template("index.html.j2")
        .render(worksheets=worksheets, note=note, key=version == "key")
    )


# ------------------------------------------------------------------------------------------
# RoB 2
# ------------------------------------------------------------------------------------------

ROB2_DOMAINS = {
    "D1": "Randomisation process",
    "D2": "Deviations from intended interventions",
    "D3": "Missing outcome data",
    "D4": "Measurement of the outcome",
    "D5": "Selection of the reported result",
}
ROB2_LEVELS = ("low", "some concerns", "high")


def load_rob2(path) -> pd.DataFrame:
    """Read a RoB 2 assessment from TOML.

    The file has a ``[study]`` table (``name``, ``outcome``, optional ``overall`` and
    ``overall_reason``) and one ``[[domain]]`` per RoB 2 domain with ``id`` (D1-D5),
    ``judgement`` (low, some concerns, high), ``support`` (the reasons, with sources) and
    optional ``signalling`` answers (a table of question -> Y/PY/PN/N/NI/NA).

    Returns
    -------
    DataFrame
        ``domain, name, judgement, support, signalling`` in D1-D5 order, then a last row
        ``Overall`` with the overall judgement (see :func:`rob2_overall`). ``attrs`` holds
        the study fields.

    Raises
    ------
    DesignError
        A missing or repeated domain, an unknown judgement, or an overall judgement less
        severe than the tool allows; the message names the file and the domain.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DesignError(f"{path}: cannot read the RoB 2 file ({exc})") from None
    study = doc.get("study", {})
    domains = doc.get("domain", [])
    seen = {}
    for i, d in enumerate(domains, start=1):
        did = d.get("id")
        if did not in ROB2_DOMAINS:
            raise DesignError(
                f"{path}: domain {i} has id {did!r}; expected one of {', '.join(ROB2_DOMAINS)}"
            )
        if did in seen:
            raise DesignError(f"{path}: domain {did} is given twice")
        j = str(d.get("judgement", "")).lower()
        if j not in ROB2_LEVELS:
            raise DesignError(
                f"{path}: domain {did} judgement {d.get('judgement')!r}; expected one of {', '.join(ROB2_LEVELS)}"
            )
        if not str(d.get("support", "")).strip():
            raise DesignError(f"{path}: domain {did} gives no support for its judgement")
        sig = d.get("signalling", {})
        seen[did] = dict(domain=did, name=ROB2_DOMAINS[did], judgement=j, support=str(d["support"]).strip(),
                         signalling="; ".join(f"{k} {v}" for k, v in sig.items()))  # fmt: skip
    missing = [k for k in ROB2_DOMAINS if k not in seen]
    if missing:
        raise DesignError(f"{path}: domain(s) {', '.join(missing)} missing; RoB 2 judges all five")
    table = pd.DataFrame([seen[k] for k in ROB2_DOMAINS])
    algo = rob2_overall(table["judgement"])
    overall = str(study.get("overall", algo)).lower()
    if overall not in ROB2_LEVELS:
        raise DesignError(
            f"{path}: overall judgement {study.get('overall')!r}; expected one of {', '.join(ROB2_LEVELS)}"
        )
    if ROB2_LEVELS.index(overall) < ROB2_LEVELS.index(algo):
        raise DesignError(
            f"{path}: overall judgement {overall!r} is less severe than the worst domain ({algo!r})"
        )
    reason = study.get("overall_reason", "the worst domain judgement (RoB 2 algorithm)")
    table = pd.concat([table, pd.DataFrame([dict(domain="Overall", name="Overall risk of bias", judgement=overall,
                                                 support=str(reason), signalling="")])], ignore_index=True)  # fmt: skip
    table.attrs.update({k: v for k, v in study.items() if isinstance(v, str)})
    return table


def rob2_overall(judgements) -> str:
    """RoB 2's overall judgement from the five domain judgements.

    Low if every domain is low; high if any domain is high; otherwise some concerns. (RoB 2
    also allows "high" when several domains have some concerns that together substantially
    lower confidence: an assessor's call, recorded as ``overall`` in the file.)

    Examples
    --------
    >>> rob2_overall(["low", "some concerns", "low", "low", "low"])
    'some concerns'
    """
    levels = [str(j).lower() for j in judgements]
    bad = [j for j in levels if j not in ROB2_LEVELS]
    if bad:
        raise ValueError(f"unknown RoB 2 judgement(s): {bad}")
    return max(levels, key=ROB2_LEVELS.index)


def rob2_traffic_light(table: pd.DataFrame, study: str = ""):
    """Traffic-light plot of a RoB 2 assessment (robvis style): one circle per domain and
    overall, green + low, yellow - some concerns, red x high."""
    from plotnine import (
        aes,
        element_blank,
        geom_point,
        geom_text,
        ggplot,
        labs,
        scale_fill_manual,
        scale_y_discrete,
        theme,
        theme_minimal,
    )

    colours = {"low": "#02C100", "some concerns": "#E2DF07", "high": "#BF0000"}
    symbols = {"low": "+", "some concerns": "-", "high": "x"}
    d = table.assign(
        study=study or table.attrs.get("name", "study"),
        symbol=table["judgement"].map(symbols),
        judgement=pd.Categorical(table["judgement"], categories=list(ROB2_LEVELS)),
        domain=pd.Categorical(table["domain"], categories=list(table["domain"])),
    )
    return (
        ggplot(d, aes("domain", "study"))
        + geom_point(aes(fill="judgement"), size=14, shape="o", color="#333333")
        + geom_text(aes(label="symbol"), size=14, fontweight="bold")
        + scale_fill_manual(values=colours, drop=False)
        + scale_y_discrete()
        + labs(
            x="",
            y="",
            fill="Risk of bias",
            title="RoB 2 traffic-light plot",
            caption="D1 randomisation; D2 deviations from intended interventions; D3 missing outcome data;\n"
            "D4 measurement of the outcome; D5 selection of the reported result",
        )  # fmt: skip
        + theme_minimal(base_size=11)
        + theme(figure_size=(8, 2.9), panel_grid_major=element_blank(), legend_position="bottom")
    )
