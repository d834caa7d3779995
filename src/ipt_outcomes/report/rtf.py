"""Every table and listing of the report as an RTF file, the format submissions use.

Each RTF carries the same number, title, population, column headers, cells and footnotes as the
HTML, rendered from the same layout (:mod:`~.views`) by the same formatter, and is written by
rtflite (pharmaverse; Python sibling of R's r2rtf): landscape page, title lines, a bordered table
and footnotes. Text is escaped for RTF here (``\\``, braces, and every non-ASCII character as
``\\uN?``) and rtflite's LaTeX conversion is switched off, so a label such as ``{A}`` or
``\\alpha`` in the data is printed as written.
"""

from __future__ import annotations

from pathlib import Path

from ..output import staged_file
from .views import TableView, text_of

__all__ = ["rtf_escape", "table_rtf", "build_rtf", "rtf_name"]


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


def _widths(header: list[str], body: list[list[str]]) -> list[float]:
    cols = len(header)
    longest = [max([len(w) for w in header[j].split()] + [0]) for j in range(cols)]
    for row in body:
        for j, cell in enumerate(row):
            longest[j] = max(longest[j], min(len(cell), 40))
    return [float(max(4, w)) for w in longest]


def table_rtf(
    label: str, title: str, population: str, view: TableView, tables: dict, footnotes: list[str]
) -> str:
    """One TLF as an RTF document (a string of 7-bit ASCII)."""
    import polars as pl
    import rtflite as rtf

    header = [text_of(c, tables) for c in view.header]
    body = [[text_of(c, tables) for c in row] for row in view.rows]
    if not body:
        body = [["" for _ in header]]
    names = [f"c{j}" for j in range(len(header))]
    frame = pl.DataFrame(
        {n: [rtf_escape(r[j]) for r in body] for j, n in enumerate(names)},
        schema=dict.fromkeys(names, pl.String),
    )
    align = [
        "l" if (view.rows and view.rows[0][j].left) or j == 0 else "c" for j in range(len(header))
    ]
    off = [False]
    doc = rtf.RTFDocument(
        df=frame,
        rtf_page=rtf.RTFPage(orientation="landscape"),
        rtf_title=rtf.RTFTitle(
            text=[rtf_escape(f"{label} {title}"), rtf_escape(f"Population: {population}")],
            text_convert=off,
        ),
        rtf_column_header=[
            rtf.RTFColumnHeader(
                text=[rtf_escape(h) for h in header],
                col_rel_width=_widths(header, body),
                text_convert=[off * len(header)],
            )
        ],
        rtf_body=rtf.RTFBody(
            col_rel_width=_widths(header, body),
            text_justification=[align],
            text_convert=[off * len(header)],
        ),
        rtf_footnote=rtf.RTFFootnote(
            text=[rtf_escape(f) for f in footnotes], text_convert=[False], as_table=False
        ),
    )
    return doc.rtf_encode()


def build_rtf(tables: dict, out_dir) -> list[Path]:
    """Write one RTF per table and listing of the catalogue into ``out_dir``.

    ``tables`` are the report's tables as written, with ``provenance`` (for the software line).
    """
    from .html import Report

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
                        tables, notes)  # fmt: skip
        path = out_dir / rtf_name(label)
        with staged_file(path) as tmp:
            tmp.write_text(doc, encoding="ascii", newline="\n")
        written.append(path)
    return written
