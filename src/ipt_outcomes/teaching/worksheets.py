"""Teaching worksheets: one definition, two HTML versions (student and instructor key).

A :class:`Worksheet` is a list of :class:`Task` s. What a task *gives* (question, data table,
figure) appears in both versions; what it *asks for* (answer text, answer table, answer figure)
appears only in the key, while the student version has an empty answer box in its place. Both
versions are rendered by :func:`render_worksheet` from the same object, so they cannot drift
apart. The worksheets themselves (``analyses/teaching/``) compute every number with the toolkit;
none is typed.

Also here: risk-of-bias assessment with the Cochrane RoB 2 tool (Sterne et al., BMJ
2019;366:l4898), read from a small TOML file (:func:`load_rob2`), with the tool's overall
judgement (:func:`rob2_overall`) and a traffic-light figure (:func:`rob2_traffic_light`).
"""

from __future__ import annotations

import base64
import html
import io
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..exceptions import DesignError

__all__ = [
    "Task",
    "Worksheet",
    "render_worksheet",
    "ROB2_DOMAINS",
    "ROB2_LEVELS",
    "load_rob2",
    "rob2_overall",
    "rob2_traffic_light",
]

VERSIONS = ("student", "key")


@dataclass
class Task:
    """One question of a worksheet.

    ``question``, ``table`` and ``figure`` are given to students; ``answer``, ``answer_table``
    and ``answer_figure`` are the instructor's key.
    """

    question: str
    answer: str = ""
    table: pd.DataFrame | None = None
    figure: object | None = None
    answer_table: pd.DataFrame | None = None
    answer_figure: object | None = None


@dataclass
class Worksheet:
    number: int
    slug: str
    title: str
    goal: str
    tasks: list[Task]
    sources: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return f"{self.number:02d}_{self.slug}"


_CSS = """
body{font-family:Georgia,'Times New Roman',serif;max-width:50em;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em;font-family:Helvetica,Arial,sans-serif}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f0f0f0}td.t,th.t{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
.goal{font-style:italic}.answer{background:#eef7f2;border-left:4px solid #009e73;padding:.4em .8em;margin:.6em 0}
.box{border:1px dashed #999;min-height:6em;margin:.6em 0;padding:.4em;color:#999}
.badge{font-family:Helvetica,Arial,sans-serif;font-size:.8em;padding:.1em .5em;border-radius:.3em;background:#555;color:#fff}
@media print{body{max-width:none;margin:0}.task{page-break-inside:avoid}}
"""


def _cell(v) -> tuple[str, str]:
    if isinstance(v, bool):
        return "t", "yes" if v else "no"
    if isinstance(v, int):
        return "", str(v)
    if isinstance(v, float):
        if pd.isna(v):
            return "", ""
        return "", f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return "t", html.escape(str(v))


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(
        f'<th class="{"t" if not pd.api.types.is_numeric_dtype(df[c]) else ""}">{html.escape(str(c))}</th>'
        for c in df.columns
    )
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for v in rec:
            cls, text = _cell(v.item() if hasattr(v, "item") else v)
            cells.append(f'<td class="{cls}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure_html(fig, alt: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    buf = io.BytesIO()
    fig.save(buf, format="png", dpi=90, verbose=False, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _paragraphs(text: str) -> str:
    return "".join(
        f"<p>{html.escape(p.strip())}</p>" for p in text.strip().split("\n\n") if p.strip()
    )


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
    label = "Instructor key" if key else "Student version"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(f'Worksheet {ws.number}: {ws.title} ({label})')}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<p><span class="badge">{label}</span></p>',
        f"<h1>Worksheet {ws.number}: {html.escape(ws.title)}</h1>",
        f'<p class="goal">{html.escape(ws.goal)}</p>',
    ]
    for i, task in enumerate(ws.tasks, start=1):
        parts.append(f'<div class="task"><h2>Task {i}</h2>{_paragraphs(task.question)}')
        if task.table is not None:
            parts.append(_table_html(task.table))
        if task.figure is not None:
            parts.append(_figure_html(task.figure, f"Figure for task {i}"))
        if key:
            parts.append('<div class="answer"><strong>Answer.</strong>')
            parts.append(_paragraphs(task.answer))
            if task.answer_table is not None:
                parts.append(_table_html(task.answer_table))
            if task.answer_figure is not None:
                parts.append(_figure_html(task.answer_figure, f"Answer figure for task {i}"))
            parts.append("</div>")
        else:
            parts.append('<div class="box">Your answer:</div>')
        parts.append("</div>")
    if ws.sources:
        parts.append("<h2>Sources</h2><ul>")
        parts.extend(f"<li>{html.escape(s)}</li>" for s in dict.fromkeys(ws.sources))
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


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
