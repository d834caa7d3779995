"""Stage 3 of the report: one self-contained HTML file from the tables and figures.

Every number shown is read from a generated CSV and rendered inside an element that names its
source (``data-src`` table, ``data-row`` row, ``data-col`` column), so that a test can check each
one against the table; text outside such elements has no digits. Figures are embedded as PNG data
URIs; there are no scripts, external fonts or styles; every data-derived string is escaped.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from ..format import fmt

__all__ = ["build_html", "fmt", "render", "read_tables"]

CSS = """
body{font-family:Georgia,'Times New Roman',serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{counter-increment:sec;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h2::before{content:counter(sec) ". "}body{counter-reset:sec}
table{border-collapse:collapse;margin:.8em 0;font-size:.85em;font-family:Helvetica,Arial,sans-serif}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}th{background:#f0f0f0}
td.t,th.t{text-align:left}img{max-width:100%;height:auto;display:block;margin:.8em 0}
.note{background:#fff8e5;border-left:4px solid #e69f00;padding:.5em .8em}
.modelled{background:#eef7f2;border-left:4px solid #009e73;padding:.5em .8em}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
@media print{body{max-width:none;margin:0}h2{page-break-after:avoid}figure,table{page-break-inside:avoid}}
"""


def render(tables: dict, src: str, row: int, col: str, kind: str) -> str:
    """The text shown for ``tables[src].iloc[row][col]``: a number by :func:`fmt`, an arm code
    as its label (kind ``arm``) or a visit as its label (kind ``vlabel``). The report test uses
    the same function to check every value against its table."""
    value = tables[src].iloc[row][col]
    if kind == "arm":
        arms = tables["arms"]
        hit = arms.loc[arms["arm"].astype(str) == str(value), "label"]
        return str(hit.iloc[0]) if len(hit) else str(value)
    if kind == "vlabel":
        visits = tables["visits"]
        try:
            hit = visits.loc[visits["visit"].astype(float) == float(value), "label"]
        except (TypeError, ValueError):
            return ""
        return str(hit.iloc[0]) if len(hit) else fmt(value, "visit")
    if kind == "term":
        arms = tables["arms"]
        labels = dict(zip(arms["arm"].astype(str), arms["label"].astype(str), strict=True))
        text = re.sub(r"arm\[([^\]]*)\]", lambda m: labels.get(m.group(1), m.group(1)), str(value))
        return text.replace(":", " x ").replace("(Intercept)", "Intercept")
    return fmt(value, kind)


def read_tables(tables_dir) -> dict[str, pd.DataFrame]:
    out = {}
    for path in sorted(Path(tables_dir).glob("*.csv")):
        out[path.stem] = pd.read_csv(
            path, dtype={"arm": str, "reference": str, "value": str}, keep_default_na=True
        )
    return out


class _Page:
    def __init__(self, tables):
        self.t = tables
        self.parts: list[str] = []

    def add(self, s: str) -> None:
        self.parts.append(s)

    def v(self, table: str, row: int, col: str, kind: str) -> str:
        return (
            f'<span class="v" data-src="{table}" data-row="{row}" data-col="{html.escape(col)}" data-fmt="{kind}">'
            f"{html.escape(render(self.t, table, row, col, kind))}</span>"
        )

    def row_of(self, table: str, **match) -> int | None:
        df = self.t[table]
        mask = pd.Series(True, index=df.index)
        for k, val in match.items():
            mask &= (
                df[k].astype(str) == str(val)
                if not isinstance(val, float)
                else df[k].astype(float) == val
            )
        idx = df.index[mask]
        return int(idx[0]) if len(idx) else None

    def table(
        self, name: str, columns: list[tuple[str, str, str]], rows=None, caption: str = ""
    ) -> None:
        """columns: (column, header, kind)."""
        df = self.t[name]
        rows = list(range(len(df))) if rows is None else list(rows)
        head = "".join(
            f'<th class="{"t" if k == "text" else ""}">{html.escape(h)}</th>'
            for _c, h, k in columns
        )
        body = []
        for i in rows:
            cells = "".join(
                f'<td class="{"t" if k == "text" else ""}" data-row="{i}" data-col="{html.escape(c)}" data-fmt="{k}">'
                f"{html.escape(render(self.t, name, i, c, k))}</td>"
                for c, _h, k in columns
            )
            body.append(f"<tr>{cells}</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.add(
            f'<table data-src="{name}">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        )

    def figure(self, path: Path, alt: str, caption: str) -> None:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.add(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )


def _trial_value(p: _Page, key: str) -> str:
    return p.v("trial", p.row_of("trial", key=key), "value", "text")


def build_html(tables_dir, figures_dir, provenance_csv, out_path) -> Path:
    """Write ``report.html`` from ``tables_dir/*.csv``, ``figures_dir/*.png`` and the provenance."""
    t = read_tables(tables_dir)
    t["provenance"] = pd.read_csv(provenance_csv, dtype=str, keep_default_na=False)
    fig = Path(figures_dir)
    p = _Page(t)
    trial = t["trial"].set_index("key")["value"]
    ref_row = p.row_of("trial", key="reference")
    key_visits = [float(x) for x in str(trial.get("key_visits", "")).split(",") if x.strip()]

    p.add(f"<h1>{_trial_value(p, 'name')}</h1>")
    # 1 what this is
    p.add("<h2>What this is</h2>")
    cite = str(trial.get("citation", "") or "")
    source = f"Published source: {_trial_value(p, 'citation')}. " if cite and cite != "nan" else ""
    p.add(
        "<p>This report is built by <code>ipt-outcomes report</code> from the score file and the trial design: "
        "every table below is a generated CSV and every figure is drawn from those tables. "
        f"{source}Outcome: {_trial_value(p, 'instrument')} (range {_trial_value(p, 'instrument_range')}). "
        f"Confidence intervals are "
        f"{p.v('trial', p.row_of('trial', key='confidence_percent'), 'value', 'text')}% intervals.</p>"
    )
    modelled = str(trial.get("modelled_arms", "") or "")
    if modelled and modelled != "nan":
        p.add(
            f'<p class="modelled">Modelled, not observed: {_trial_value(p, "modelled_arms")}. '
            "Its results come from assumptions drawn from the literature, not from patients of the trial.</p>"
        )
    if len(t["published_vs_reproduced"]):
        p.add(
            "<p class=\"note\">The project's own data are a synthetic reconstruction: the trial's individual "
            "data are not public, so the data were generated to match the published summary figures. "
            "Treat the analyses as a demonstration of how the published numbers can arise, not as new evidence.</p>"
        )
    # 2 consort
    p.add("<h2>Participant flow</h2>")
    p.figure(
        fig / "consort.png",
        "Flow diagram by arm",
        "Flow of patients by arm, drawn from the counts in the table below.",
    )
    p.table(
        "consort",
        [
            ("arm", "Arm", "arm"),
            ("stage", "Stage", "text"),
            ("visit", "Visit", "vlabel"),
            ("n", "n", "int"),
        ],
    )
    # 3 baseline
    p.add("<h2>Baseline characteristics</h2>")
    p.table("baseline_table", [("variable", "Characteristic", "text"), ("arm", "Arm", "arm"), ("n", "n", "int"),
                               ("statistic", "Statistic", "text"), ("value", "Mean or count", "f1"), ("spread", "SD or percent", "f1")])  # fmt: skip
    p.add(
        f"<p>Standardised mean differences against the reference arm, {p.v('trial', ref_row, 'value', 'arm')}:</p>"
    )
    p.table(
        "baseline_smd",
        [("variable", "Characteristic", "text"), ("arm", "Arm", "arm"), ("smd", "SMD", "f2")],
    )
    # 4 response and remission
    p.add("<h2>Response and remission at every visit</h2>")
    p.figure(
        fig / "rates.png",
        "Response and remission rates by visit",
        "Observed cases with Wilson score intervals.",
    )
    for name, ev in (("response_rates", "responders"), ("remission_rates", "remitters")):
        p.table(name, [("arm", "Arm", "arm"), ("visit", "Visit", "vlabel"), ("n", "n", "int"), (ev, ev.capitalize(), "int"),
                       ("rate", "Rate", "pct"), ("ci_low", "CI low", "pct"), ("ci_high", "CI high", "pct")])  # fmt: skip
    # 5 published vs reproduced
    p.add("<h2>Published versus reproduced</h2>")
    if len(t["published_vs_reproduced"]):
        p.table("published_vs_reproduced", [("arm", "Arm", "arm"), ("visit", "Visit", "vlabel"), ("published_percent", "Published %", "f0"),
                                            ("reproduced_percent", "Reproduced %", "f0"), ("n", "n", "int"), ("responders", "Responders", "int")])  # fmt: skip
        if len(t["granularity"]):
            p.add(
                "<p>Granularity (GRIM-style) check of the published percentages against the denominators reported elsewhere:</p>"
            )
            p.table("granularity", [("arm", "Arm", "arm"), ("visit", "Visit", "vlabel"), ("reported_n", "Reported n", "int"),
                                    ("reported_n_consistent", "Possible?", "bool"), ("note", "Note", "text")])  # fmt: skip
    else:
        p.add("<p>No published figures were given for this trial.</p>")
    # 6 comparisons
    p.add("<h2>Comparisons with the reference arm</h2>")
    p.figure(
        fig / "forest.png",
        "Forest plot of risk differences",
        "Risk difference in response with Newcombe hybrid score intervals.",
    )
    rows = [i for i, v in enumerate(t["response_comparisons"]["visit"]) if v in key_visits] or None
    p.table("response_comparisons", [("arm", "Arm", "arm"), ("visit", "Visit", "vlabel"), ("risk_difference", "RD", "f3"),
                                     ("rd_ci_low", "RD low", "f3"), ("rd_ci_high", "RD high", "f3"), ("risk_ratio", "RR", "f2"),
                                     ("odds_ratio", "OR", "f2"), ("p_fisher", "Fisher p", "p"), ("p_holm", "Holm p", "p"),
                                     ("nnt_text", "NNT", "text")], rows=rows)  # fmt: skip
    # 7 mmrm
    p.add("<h2>Mixed model for repeated measures</h2>")
    p.figure(
        fig / "mmrm.png",
        "LS-mean trajectories",
        "LS-mean change from baseline by arm with confidence intervals.",
    )
    mc = t["mmrm_contrasts"]
    rows = [i for i, v in enumerate(mc["visit"]) if v in key_visits] or None
    p.table("mmrm_contrasts", [("arm", "Arm", "arm"), ("reference", "vs", "arm"), ("visit", "Visit", "vlabel"), ("estimate", "Difference", "f2"),
                               ("se", "SE", "f2"), ("df", "df", "f1"), ("p", "p", "p"), ("ci_low", "CI low", "f2"), ("ci_high", "CI high", "f2")], rows=rows)  # fmt: skip
    sig = [i for i in (rows or range(len(mc))) if float(mc.iloc[i]["p"]) < 0.05]
    if sig:
        items = "; ".join(
            f"{p.v('mmrm_contrasts', i, 'arm', 'arm')}, {p.v('mmrm_contrasts', i, 'visit', 'vlabel')} (p {p.v('mmrm_contrasts', i, 'p', 'p')})"
            for i in sig
        )
        p.add(
            f"<p>Contrasts with the reference that reach the conventional level at the key visits: {items}.</p>"
        )
    else:
        p.add(
            "<p>No contrast with the reference reaches the conventional level at the key visits.</p>"
        )
    fit_row = 0
    p.add(f"<p>Model: {p.v('mmrm_fit', fit_row, 'covariance', 'text')} covariance, {p.v('mmrm_fit', fit_row, 'df_method', 'text')} degrees of freedom; "
          f"converged: {p.v('mmrm_fit', fit_row, 'converged', 'bool')}.</p>")  # fmt: skip
    if str(t["mmrm_fit"].iloc[0].get("fallback", "")) not in ("", "nan"):
        p.add(
            f'<p class="note">Covariance fallback: {p.v("mmrm_fit", fit_row, "fallback", "text")}</p>'
        )
    # 8 random effects
    p.add("<h2>Random-effects models, therapy groups and effect sizes</h2>")
    p.table(
        "lmm_fixed",
        [
            ("term", "Term", "term"),
            ("estimate", "Estimate", "f3"),
            ("se", "SE", "f3"),
            ("df", "df", "f1"),
            ("p", "p", "p"),
        ],
    )
    p.table("lmm_fit", [("method", "Method", "text"), ("loglik", "Log-likelihood", "f2"), ("var_intercept", "Var intercept", "f2"),
                        ("var_residual", "Var residual", "f2"), ("converged", "Converged", "bool"), ("singular", "Singular", "bool"),
                        ("message", "Fit message", "text")])  # fmt: skip
    if len(t["lmm_icc"]):
        p.add(
            "<p>Partially nested model: patients of the group-therapy arm share a therapy group.</p>"
        )
        p.table(
            "lmm_icc",
            [
                ("arm", "Arm", "arm"),
                ("n_groups", "Groups", "int"),
                ("var_group", "Var group", "f2"),
                ("icc", "Intra-group correlation", "f3"),
                ("singular", "Singular", "bool"),
            ],
        )
        p.table(
            "lmm_nested",
            [
                ("model", "Model", "text"),
                ("term", "Term", "term"),
                ("estimate", "Estimate", "f3"),
                ("se", "SE", "f3"),
                ("df", "df", "f1"),
                ("p", "p", "p"),
            ],
        )
    p.add(
        "<p>ANCOVA on baseline at the key visits, with HC3 robust standard errors, and Hedges' g:</p>"
    )
    p.table(
        "ancova_hc3",
        [
            ("arm", "Arm", "arm"),
            ("visit", "Visit", "vlabel"),
            ("estimate", "Adjusted difference", "f2"),
            ("se", "SE (HC3)", "f2"),
            ("p", "p", "p"),
        ],
    )
    p.table(
        "hedges_g",
        [
            ("arm", "Arm", "arm"),
            ("visit", "Visit", "vlabel"),
            ("g", "Hedges g", "f2"),
            ("ci_low", "CI low", "f2"),
            ("ci_high", "CI high", "f2"),
        ],
    )
    # 9 individual data
    p.add("<h2>Individual trajectories, waterfall and missing data</h2>")
    p.figure(
        fig / "spaghetti.png", "Individual trajectories by arm", "Observed scores of every patient."
    )
    p.figure(
        fig / "waterfall.png",
        "Waterfall of percent change",
        "Percent change from baseline at the last key visit, one bar per patient.",
    )
    p.figure(
        fig / "missingness.png",
        "Missing data by arm and visit",
        "Share of patients without a score.",
    )
    p.table(
        "missingness",
        [
            ("arm", "Arm", "arm"),
            ("visit", "Visit", "vlabel"),
            ("randomised", "Randomised", "int"),
            ("observed", "Observed", "int"),
            ("percent_missing", "% missing", "f1"),
        ],
    )
    # 10 sensitivity
    p.add("<h2>Sensitivity to the missing-data rule</h2>")
    p.figure(
        fig / "sensitivity.png",
        "Sensitivity of the conclusions",
        "Comparisons at the last key visit under each rule.",
    )
    p.table("sensitivity", [("rule", "Rule", "text"), ("arm", "Arm", "arm"), ("measure", "Measure", "text"), ("estimate", "Estimate", "f3"),
                            ("ci_low", "CI low", "f3"), ("ci_high", "CI high", "f3"), ("p", "p", "p"), ("significant", "Significant", "bool")])  # fmt: skip
    # 11 provenance
    p.add("<h2>Provenance</h2>")
    p.table("provenance", [("key", "Item", "text"), ("value", "Value", "text")])
    body = "\n".join(p.parts)
    title = html.escape(str(trial.get("name", "Trial report")))
    doc = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
        f"<body>\n{body}\n</body></html>\n"
    )
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(out_path)
    return out_path
