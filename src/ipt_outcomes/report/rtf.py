"""Every table and listing of the report as an RTF file, the format submissions use.

Each RTF carries the same number, title, population, column headers, cells and footnotes as the
HTML, rendered from the same layout (:mod:`~.views`, decimal-aligned by :func:`~.views.aligned`)
by the same formatter, and is written by rtflite (pharmaverse; Python sibling of R's r2rtf) with
its own page furniture, from the one page set-up of :mod:`~.page`:

* the paper (A4 landscape by default, US Letter by ``report --paper letter``) and margins;
* a running header on every page: the study's name and, for generated data, "SYNTHETIC DATA"
  with what the data were calibrated to;
* a footer on every page: the program, the ipt-outcomes version, the run date and "Page x of y"
  (RTF page fields);
* rtflite's pagination: the title and column headers repeated at the top of every page of a
  table that runs over several, the footnotes attached below the last rows as part of the table
  (so they stay with it);
* numbers right-aligned on their decimal points, text left-aligned; modelled arms' rows in
  italics, endpoint visits in bold, as the footnotes say.

Text is escaped for RTF here (``\\``, braces, and every non-ASCII character as ``\\uN?``) and
rtflite's LaTeX conversion is switched off, so a label such as ``{A}`` or ``\\alpha`` in the data
is printed as written.
"""

from __future__ import annotations

from pathlib import Path

from ..output import staged_file
from .page import Furniture, PageSetup
from .views import TableView, aligned, text_of

__all__ = ["rtf_escape", "table_rtf", "build_rtf", "rtf_name", "ROW_STYLE", "PAGE_FIELDS"]

#: how a row of a given class is marked: a modelled arm's rows in italics, an endpoint's visits
#: in bold (RTF character formatting around the cell's text)
ROW_STYLE = {"modelled": "\\i", "key": "\\b"}
#: "Page x of y" as RTF fields (page number, number of pages), as r2rtf and rtflite write it
PAGE_FIELDS = "Page \\chpgn  of {\\field{\\*\\fldinst NUMPAGES }}"
FONT_PT = 9  # body and column headers
TITLE_PT = 10


def rtf_escape(text: str) -> str:
    r"""Text as RTF: ``\``, ``{``, ``}`` escaped, non-ASCII as ``\uN?``, new lines as ``\line``.

    Examples
    --------
    >>> rtf_escape("a{b}\\c ≥ 50%")
    'a\\{b\\}\\\\c \\u8805? 50%'
    """
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\line ")
        elif ch == "\t":
            out.append(" ")
        elif 32 <= code < 128:
            out.append(ch)
        elif code < 32:
            continue
        elif code < 0x10000:
            out.append(f"\\u{code if code < 32768 else code - 65536}?")
        else:  # outside the basic plane: a UTF-16 surrogate pair
            v = code - 0x10000
            for unit in (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)):
                out.append(f"\\u{unit - 65536}?")
    return "".join(out)


def rtf_name(label: str) -> str:
    """File name of a TLF's RTF: "Table 14.2.1" -> ``table_14_2_1.rtf``."""
    return label.lower().replace(" ", "_").replace(".", "_") + ".rtf"


def _widths(header: list[str], body: list[list[str]], left: list[bool], page: PageSetup):
    """Relative column widths: a number column as wide as its widest cell (numbers never wrap),
    a text column as its text up to a limit, every header wrapping only between words; text
    columns give way when the table would be wider than the page."""
    room = page.body_in[0] * 72 / (FONT_PT * 0.5)  # characters of average width
    head = [max([len(w) for w in h.split()] + [1]) + 2 for h in header]
    want = []
    for j in range(len(header)):
        longest = max([len(r[j]) for r in body if j < len(r)] + [1]) + 2
        want.append(max(head[j], min(longest, 50) if left[j] else longest))
    excess = sum(want) - room
    text = [j for j in range(len(want)) if left[j]]
    while excess > 0 and text:
        give = {j: want[j] - max(head[j], 12) for j in text}
        total = sum(give.values())
        if total <= 0:
            break
        for j in text:
            want[j] -= min(give[j], excess * give[j] / total)
        excess = sum(want) - room
        text = [j for j in text if want[j] > max(head[j], 12)]
    return [float(w) for w in want]


def _styled(text: str, row_class: str) -> str:
    """A cell's RTF text in its row's style (:data:`ROW_STYLE`).

    The style is written into the cell, not given to rtflite as a per-row ``text_format``:
    rtflite 2.6 applies per-row attributes of a table that runs over several pages by the row's
    place on its page, so that the second page would take the first page's styles. Column-wide
    attributes (justification, font size) are given to rtflite.
    """
    codes = "".join(ROW_STYLE[w] for w in row_class.split() if w in ROW_STYLE)
    return f"{{{codes} {text}}}" if codes and text else text


def _rows_per_page(page: PageSetup, n_title_lines: int) -> int:
    """rtflite's row budget of a page: the body's height less the title, over one line of the
    table (font size, single spacing and the cell's padding), rounded down with a margin."""
    _, height_in = page.body_in
    line_pt = FONT_PT * 1.2 + 1.5
    title_pt = n_title_lines * TITLE_PT * 1.2 + 2 * 9
    return max(8, int((height_in * 72 - title_pt) / line_pt))


def table_rtf(
    label: str,
    title: str,
    population: str,
    view: TableView,
    tables: dict,
    footnotes: list[str],
    *,
    page: PageSetup | None = None,
    furniture: Furniture | None = None,
    program: str = "",
) -> str:
    """One TLF as an RTF document (a string of 7-bit ASCII) with its page furniture."""
    import polars as pl
    import rtflite as rtf

    page = page or PageSetup()
    furniture = furniture or Furniture.from_tables(tables)
    view = aligned(view, tables)
    header = [text_of(c, tables) for c in view.header]
    body = [[text_of(c, tables) for c in row] for row in view.rows]
    classes = list(view.row_class)
    if not body:
        body, classes = [["" for _ in header]], [""]
    names = [f"c{j}" for j in range(len(header))]
    frame = pl.DataFrame(
        {n: [_styled(rtf_escape(r[j]), classes[i]) for i, r in enumerate(body)]
         for j, n in enumerate(names)},
        schema=dict.fromkeys(names, pl.String),
    )  # fmt: skip
    left = [j == 0 or any(j < len(r) and r[j].left and r[j].parts for r in view.rows)
            for j in range(len(header))]  # fmt: skip
    justify = ["l" if left[j] else "r" for j in range(len(header))]
    off = [False]
    width_in, height_in = page.inches
    titles = [rtf_escape(f"{label} {title}"), rtf_escape(f"Population: {population}")]
    running = [rtf_escape(furniture.study)]
    if furniture.mark:
        running.append(rtf_escape(furniture.mark))
    widths = _widths(header, body, left, page)
    doc = rtf.RTFDocument(
        df=frame,
        rtf_page=rtf.RTFPage(
            orientation="landscape",
            width=width_in,
            height=height_in,
            margin=page.margins_in,
            col_width=page.body_in[0],
            nrow=_rows_per_page(page, len(titles)),
            border_first="single",
            border_last="single",
            use_color=True,
            page_title="all",
            page_footnote="last",
        ),
        rtf_page_header=rtf.RTFPageHeader(
            text=running,
            text_justification=["l"] * len(running),
            text_font_size=[8] * len(running),
            text_format=["b" if t == running[-1] and furniture.mark else "" for t in running],
        ),
        rtf_page_footer=rtf.RTFPageFooter(
            text=[rtf_escape(furniture.footer(program)) + "    " + PAGE_FIELDS],
            text_justification=["l"],
            text_font_size=[8],
        ),
        rtf_title=rtf.RTFTitle(
            text=titles,
            text_convert=off,
            text_font_size=[TITLE_PT] * len(titles),
            text_justification=["l"] * len(titles),
            text_space_before=[6 * 20] * len(titles),
            text_space_after=[0] * len(titles),
        ),  # fmt: skip
        rtf_column_header=[
            rtf.RTFColumnHeader(
                text=[rtf_escape(h) for h in header],
                col_rel_width=widths,
                text_convert=[off * len(header)],
                text_font_size=[FONT_PT] * len(header),
                text_justification=["l" if left[j] else "c" for j in range(len(header))],
                text_format=["b"] * len(header),
            )
        ],
        rtf_body=rtf.RTFBody(
            col_rel_width=widths,
            text_justification=[justify],
            text_convert=[off * len(header)],
            text_font_size=[[FONT_PT] * len(header)],
        ),
        rtf_footnote=rtf.RTFFootnote(
            text=[rtf_escape(f) for f in footnotes],
            text_convert=[False],
            as_table=True,
            text_font_size=[8],
        ),
    )
    return doc.rtf_encode()


def build_rtf(tables: dict, out_dir, *, page: PageSetup | None = None) -> list[Path]:
    """Write one RTF per table and listing of the catalogue into ``out_dir``.

    ``tables`` are the report's tables as written, with ``provenance`` (for the software line and
    the run date of the footer); ``page`` the paper (A4 landscape by default).
    """
    from .html import Report

    page = page or PageSetup()
    furniture = Furniture.from_tables(tables)
    report = Report(tables)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    software = (
        f"Software: ipt-outcomes {report.text(report.prov('ipt-outcomes'))} "
        f"(Python {report.text(report.prov('python'))})"
    )
    for tlf in report.all_tlfs():
        if tlf.view is None:
            continue
        notes = [report.text(f) for f in tlf.footnotes]
        notes.append(f"{software}; {report.text(tlf.program)}.")
        label = report.text(tlf.label)
        doc = table_rtf(label, report.text(tlf.title), report.text(tlf.population), tlf.view,
                        tables, notes, page=page, furniture=furniture,
                        program=report.text(tlf.program))  # fmt: skip
        path = out_dir / rtf_name(label)
        with staged_file(path) as tmp:
            tmp.write_text(doc, encoding="ascii", newline="\n")
        written.append(path)
    return written
