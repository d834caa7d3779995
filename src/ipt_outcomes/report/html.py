"""Stage 3 of the report: one self-contained HTML file from the tables and figures.

The page is written by jinja2 templates (``templates/``, autoescaping on); this module only
hands them the data: the generated tables, the TLF catalogue with each table's layout
(:mod:`~.views`) and each figure as a PNG data URI with an alternative text that says what it
shows (:mod:`~.alt`). Every number shown is rendered by :func:`render` inside an element that
names its source (``data-src`` table, ``data-row`` row, ``data-col`` column, ``data-fmt`` kind),
so that a test can check each one against the table; text outside such elements has no digits.
There are no scripts, external fonts or styles.

Accessibility: a table's number, title and population are its ``<caption>``; column headers are
``<th scope="col">`` and the first column of a row, when it names the row, ``<th scope="row">``;
a figure is a ``<figure>`` with a ``<figcaption>``. Printing (the PDF) follows the one page
set-up of :mod:`~.page`: paper, margins and the running header and footer ("Page x of y") in
CSS paged media; each table, figure and listing starts a page, with its heading; its footnotes
stay with it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from ..format import fmt
from .page import Furniture, PageSetup, css_string
from .sections import SECTIONS, Section
from .views import VIEWS, Ref, TableView, aligned, render

__all__ = ["build_html", "render_html", "fmt", "render", "read_tables", "Report", "TLF"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: columns read as text whatever they look like
TEXT_COLUMNS = ("arm", "reference", "value", "subject_id", "number", "label", "text", "title",
                "note", "nnt_text", "term", "model", "key", "name", "part", "kind", "section")  # fmt: skip


def read_tables(tables_dir) -> dict[str, pd.DataFrame]:
    """Every ``*.csv`` of ``tables_dir`` as the report reads it (text columns kept as text)."""
    out = {}
    for path in sorted(Path(tables_dir).glob("*.csv")):
        out[path.stem] = pd.read_csv(
            path, dtype=dict.fromkeys(TEXT_COLUMNS, str), keep_default_na=True
        )
    return out


def read_provenance(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@dataclass
class TLF:
    """One table, figure or listing as the templates show it."""

    name: str
    kind: str
    number: str
    label: Ref
    title: Ref
    population: Ref
    program: Ref
    footnotes: list[Ref]
    view: TableView | None = None
    figure: str | None = None  # data URI of the PNG
    alt: str = ""  # what the figure shows, in words (from the tables)
    group: str = ""  # the analysis it belongs to (a heading within its section)
    group_title: Ref | None = None


class Report:
    """What the templates read: values as :class:`Ref` s, their text, the TLFs of a section."""

    def __init__(self, tables: dict, figures_dir=None, page: PageSetup | None = None):
        self.t = tables
        self.figures_dir = Path(figures_dir) if figures_dir is not None else None
        self.page = page or PageSetup()
        self.furniture = Furniture.from_tables(tables)

    # --- values -------------------------------------------------------------------------------
    def text(self, ref: Ref) -> str:
        return render(self.t, ref.src, ref.row, ref.col, ref.kind)

    def ref(self, src: str, row: int, col: str, kind: str = "text") -> Ref:
        return Ref(src, int(row), col, kind)

    def _key_row(self, src: str, key: str) -> int:
        keys = self.t[src]["key"].astype(str)
        hit = keys.index[keys == key]
        if not len(hit):
            raise KeyError(f"{src} has no key {key!r}")
        return int(hit[0])

    def trial(self, key: str) -> Ref:
        return Ref("trial", self._key_row("trial", key), "value", "text")

    def prov(self, key: str) -> Ref:
        return Ref("provenance", self._key_row("provenance", key), "value", "text")

    def plain(self, src: str, key: str) -> str:
        return str(self.t[src].iloc[self._key_row(src, key)]["value"])

    def has(self, table: str) -> bool:
        return table in self.t and len(self.t[table]) > 0

    def has_text(self, key: str) -> bool:
        try:
            return self.text(self.trial(key)) not in ("", "nan")
        except KeyError:
            return False

    def value(self, src: str, row: int, col: str):
        v = self.t[src].iloc[row][col]
        if isinstance(v, str) and v in ("True", "False"):
            return v == "True"
        return v.item() if hasattr(v, "item") else v

    def rows(self, src: str, **match) -> list[int]:
        if not self.has(src):
            return []
        df = self.t[src]
        mask = pd.Series(True, index=df.index)
        for k, val in match.items():
            numeric = isinstance(val, int | float) and not isinstance(val, bool)
            mask &= df[k].astype(float) == float(val) if numeric else df[k].astype(str) == str(val)
        return [int(i) for i in df.index[mask]]

    def unique(self, src: str, col: str) -> list[str]:
        """The distinct values of a column, in order of appearance."""
        if not self.has(src):
            return []
        return list(dict.fromkeys(self.t[src][col].astype(str)))

    def row(self, src: str, **match) -> int | None:
        hit = self.rows(src, **match)
        return hit[0] if hit else None

    @cached_property
    def modelled(self) -> set[str]:
        arms = self.t["arms"]
        return set(arms.loc[arms["modelled"].astype(str) == "True", "arm"].astype(str))

    def observed_rows(self, src: str) -> list[int]:
        """Rows of ``src`` whose arm is observed (modelled arms are never a finding)."""
        return [i for i in self.rows(src) if str(self.t[src].iloc[i]["arm"]) not in self.modelled]

    # --- TLFs ---------------------------------------------------------------------------------
    def _figure_uri(self, name: str) -> str | None:
        if self.figures_dir is None:
            return None
        path = self.figures_dir / f"{name}.png"
        if not path.exists():
            return None
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")

    def _tlf(self, i: int) -> TLF:
        from .tlf import args_of

        row = self.t["tlf"].iloc[i]
        name = str(row["name"])
        notes = [
            Ref("tlf_footnotes", j, "text", "text") for j in self.rows("tlf_footnotes", name=name)
        ]
        view, figure = _text(row["view"]), _text(row["figure"])
        alt = ""
        if figure:
            from .alt import describe

            alt = describe(figure, self.t, _text(row["src"]), str(row["title"]))
        layout = None
        if view:
            layout = aligned(VIEWS[view](self.t, _text(row["src"]), **args_of(row["args"])), self.t)
        return TLF(
            name=name,
            kind=str(row["kind"]),
            number=str(row["number"]),
            label=Ref("tlf", i, "label", "text"),
            title=Ref("tlf", i, "title", "text"),
            population=Ref("tlf", i, "population", "text"),
            program=Ref("tlf", i, "program", "text"),
            footnotes=notes,
            view=layout,
            figure=self._figure_uri(name) if figure else None,
            alt=alt,
            group=_text(row["group"]),
            group_title=Ref("tlf", i, "group_title", "text"),
        )

    @cached_property
    def _tlfs(self) -> list[TLF]:
        return [self._tlf(i) for i in range(len(self.t["tlf"]))]

    def all_tlfs(self) -> list[TLF]:
        return self._tlfs

    def tlfs(self, section: str) -> list[TLF]:
        names = set(self.t["tlf"].loc[self.t["tlf"]["section"] == section, "name"])
        return [t for t in self._tlfs if t.name in names]

    def sections(self) -> list[Section]:
        return [s for s in SECTIONS if all(self.has(r) for r in s.requires)]


def _text(value) -> str:
    """A cell of a generated table as text ("" for an empty one)."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.tests["ref"] = lambda x: isinstance(x, Ref)
    env.filters["css"] = css_string
    return env


def render_html(tables: dict, figures_dir=None, page: PageSetup | None = None) -> str:
    """The report page for ``tables`` (with ``provenance``) and the PNGs in ``figures_dir``,
    printed on ``page`` (A4 landscape by default)."""
    report = Report(tables, figures_dir, page)
    template = _environment().get_template("report.html.j2")
    return template.render(R=report, sections=report.sections(), page=report.page,
                           furniture=report.furniture)  # fmt: skip


def build_html(tables: dict, figures_dir, out_path, *, page: PageSetup | None = None) -> Path:
    """Write ``report.html`` from the report's tables (with ``provenance``) and the PNGs in
    ``figures_dir``; ``page`` is the paper it prints on."""
    from ..output import atomic_write

    out_path = Path(out_path)
    with atomic_write(out_path) as fh:
        fh.write(render_html(tables, figures_dir, page))
    return out_path
