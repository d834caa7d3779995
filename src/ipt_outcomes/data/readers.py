"""Read a score file of any supported format into a raw table, refusing unreadable files clearly.

Formats by extension: ``.csv`` / ``.txt`` / ``.tsv`` (UTF-8 with or without BOM, LF or CRLF,
comma, semicolon, tab or | separated), ``.xlsx``, ``.parquet``, ``.sas7bdat``, ``.sav``, ``.dta``.
Text files are read with every cell as text, so that nothing is silently coerced: turning cells
into numbers is the validator's job, which can then say which cell was wrong.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..exceptions import InputFileError

__all__ = ["RawTable", "read_table", "sheet_names", "value_labels_of", "SUPPORTED_EXTENSIONS"]

TEXT_EXTENSIONS = (".csv", ".txt", ".tsv")
SUPPORTED_EXTENSIONS = (*TEXT_EXTENSIONS, ".xlsx", ".parquet", ".sas7bdat", ".sav", ".dta")
MAX_COLUMNS = 2_000
MAX_BYTES = 1 << 30  # 1 GiB: larger files are refused rather than read into memory


@dataclass(frozen=True)
class RawTable:
    """A table as read, before validation.

    Attributes
    ----------
    frame : DataFrame
        The cells as read (text for text files); the index is the 0-based data-row position.
    path : str
        The file it came from, as given.
    first_row : int
        The row number a user sees for index 0 (2 for files with a header line, 1 for records of
        binary statistical formats).
    row_word : str
        ``"row"`` (a spreadsheet row, header = row 1) or ``"record"``.
    decimal : str
        Decimal separator of text numbers (``","`` in semicolon-separated files).
    """

    frame: pd.DataFrame
    path: str
    first_row: int = 2
    row_word: str = "row"
    decimal: str = "."

    def row_label(self, index: int) -> str:
        """How the user finds the row of this index: ``"row 12"`` or ``"record 11"``."""
        return f"{self.row_word} {int(index) + self.first_row}"


def read_table(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    value_labels: str = "codes",
) -> RawTable:
    """Read a score file into a :class:`RawTable`.

    Parameters
    ----------
    path : str or Path
        The file; its extension chooses the reader.
    sheet : str, optional
        Worksheet of an ``.xlsx`` file (default: the first).
    encoding : str, optional
        Encoding of a text file (default UTF-8, with or without byte-order mark).
    value_labels : {"codes", "labels"}
        SPSS and Stata files: keep the stored codes (default) or replace them by their value
        labels (e.g. arm 1 -> "CBT"; a numeric visit must then stay without labels).

    Returns
    -------
    RawTable

    Raises
    ------
    InputFileError
        The file does not exist, is a directory, is empty, has only a header, is binary where
        text was expected, is not in the stated encoding, has ragged rows or duplicate column
        names, or its format is not supported.
    """
    if value_labels not in ("codes", "labels"):
        raise ValueError(f"value_labels must be 'codes' or 'labels', got {value_labels!r}")
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise InputFileError(f"{name}: no such file")
    if p.is_dir():
        raise InputFileError(f"{name}: is a directory, not a data file")
    ext = p.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise InputFileError(
            f"{name}: unsupported file type {ext or '(no extension)'!r}; "
            f"use one of {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    size = p.stat().st_size
    if size == 0:
        raise InputFileError(f"{name}: the file is empty")
    if size > MAX_BYTES:
        raise InputFileError(
            f"{name}: {size / 2**30:.1f} GiB is more than the {MAX_BYTES / 2**30:.0f} GiB this tool reads "
            "into memory; split the file by arm or site, or convert it to Parquet with only the needed columns"
        )
    if ext in TEXT_EXTENSIONS:
        table = _read_text(p, name, encoding)
    else:
        table = _read_binary(p, name, ext, sheet, value_labels)
    frame = table.frame
    if frame.shape[1] > MAX_COLUMNS:
        raise InputFileError(
            f"{name}: {frame.shape[1]} columns is more than the {MAX_COLUMNS} this tool accepts"
        )
    dupes = sorted({str(c) for c in frame.columns if list(frame.columns).count(c) > 1})
    if dupes:
        raise InputFileError(f"{name}: column names appear more than once: {', '.join(dupes)}")
    if len(frame) == 0:
        raise InputFileError(f"{name}: the file has a header but no data rows")
    return table


#: Byte-order marks of the Unicode encodings that spreadsheet programs write ("Unicode text").
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _wide_encoding(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError:
        return False


def _read_text(p: Path, name: str, encoding: str | None) -> RawTable:
    data = p.read_bytes()
    if encoding is None:  # UTF-16/32 with a byte-order mark is unambiguous: read it as such
        encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if data.startswith(b"PK\x03\x04"):
        raise InputFileError(
            f"{name}: is a zip archive, not CSV text (an Excel workbook saved under a text "
            "name?); give it its own extension, e.g. .xlsx, or save the sheet as CSV"
        )
    if (encoding is None or not _wide_encoding(encoding)) and b"\x00" in data[:65536]:
        raise InputFileError(
            f"{name}: looks like a binary file (it contains NUL bytes), not CSV text"
            " (if it is UTF-16 text, give --encoding utf-16)"
        )
    enc = encoding or "utf-8-sig"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(
            f"{name}: row {line}: the file is not {enc.replace('-sig', '')} text (byte "
            f"0x{data[exc.start]:02x}); save it as UTF-8 or give --encoding, e.g. --encoding latin-1"
        ) from None
    except LookupError:
        raise InputFileError(
            f"{name}: unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252, utf-16)"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise InputFileError(
            f"{name}: the text has NUL characters: it is not {enc.replace('-sig', '')} text; "
            "give the right --encoding"
        )
    if not text.strip():
        raise InputFileError(f"{name}: the file is empty")
    first_line = text.splitlines()[0]
    sep = _sniff_separator(first_line, p.suffix.lower())
    header = [h.strip() for h in next(csv.reader([first_line], delimiter=sep))]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputFileError(f"{name}: column names appear more than once: {', '.join(dupes)}")
    frame = _arrow_cells(text, sep, next(csv.reader([first_line], delimiter=sep)))
    try:
        if frame is None:  # the row-by-row parser, which also says what is wrong with a file
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    io.StringIO(text),
                    sep=sep,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    skip_blank_lines=False,
                    index_col=False,
                    engine="c",
                    on_bad_lines="error",
                )
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise InputFileError(
            f"{name}: the rows do not line up with the header: some rows have more fields than "
            f"the header's {len(header)} ({_short(exc)})"
        ) from None
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{name}: the file is empty") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    blank = (frame == "").all(axis=1) if frame.shape[1] else pd.Series(True, index=frame.index)
    frame = frame.loc[~blank]
    return RawTable(frame=frame, path=name, first_row=2, decimal="," if sep == ";" else ".")


def _arrow_cells(text: str, sep: str, header: list[str]) -> pd.DataFrame | None:
    """Every cell as text, parsed by Arrow on all cores: the same table as the row-by-row parser
    gives, or None when the file is not a plain rectangle (a blank line, a ragged row), for which
    the row-by-row parser finds what is wrong."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=header),
            parse_options=pacsv.ParseOptions(
                delimiter=sep, newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return table.to_pandas()


def _sniff_separator(header: str, ext: str) -> str:
    if ext == ".tsv":
        return "\t"
    counts = {}
    for sep in (",", ";", "\t", "|"):
        try:
            counts[sep] = len(next(csv.reader([header], delimiter=sep))) - 1
        except (csv.Error, StopIteration):
            counts[sep] = 0
    best = max(counts, key=lambda s: (counts[s], s == ","))
    return best if counts[best] > 0 else ","


def _read_binary(
    p: Path, name: str, ext: str, sheet: str | None, value_labels: str = "codes"
) -> RawTable:
    try:
        if ext == ".xlsx":
            return _read_xlsx(p, name, sheet)
        if ext == ".parquet":
            frame = pd.read_parquet(p)
        else:
            import pyreadstat

            reader = {
                ".sas7bdat": pyreadstat.read_sas7bdat,
                ".sav": pyreadstat.read_sav,
                ".dta": pyreadstat.read_dta,
            }[ext]
            kwargs = {}
            if ext != ".sas7bdat":
                kwargs["apply_value_formats"] = value_labels == "labels"
            frame, _meta = reader(str(p), **kwargs)
    except InputFileError:
        raise
    except Exception as exc:  # every reader has its own exception types
        kind = {".parquet": "Parquet", ".sas7bdat": "SAS", ".sav": "SPSS", ".dta": "Stata"}[ext]
        raise InputFileError(f"{name}: cannot be read as a {kind} file ({_short(exc)})") from None
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawTable(frame=frame, path=name, first_row=1, row_word="record")


def _read_xlsx(p: Path, name: str, sheet: str | None) -> RawTable:
    try:
        book = pd.ExcelFile(p, engine="openpyxl")
    except Exception as exc:
        raise InputFileError(
            f"{name}: cannot be read as an Excel .xlsx file ({_short(exc)})"
        ) from None
    with book:
        sheets = list(book.sheet_names)
        if not sheets:
            raise InputFileError(f"{name}: the workbook has no sheets")
        if sheet is not None and sheet not in sheets:
            raise InputFileError(
                f"{name}: there is no sheet {sheet!r}; the sheets are {', '.join(map(repr, sheets))}"
            )
        # without --sheet: the first sheet a user sees in Excel (hidden sheets are skipped)
        shown = [
            ws.title for ws in getattr(book.book, "worksheets", []) if ws.sheet_state == "visible"
        ]
        chosen = sheet if sheet is not None else (shown or sheets)[0]
        try:
            frame = pd.read_excel(book, sheet_name=chosen, dtype=object, header=None)
        except Exception as exc:
            raise InputFileError(
                f"{name}: sheet {chosen!r} cannot be read ({_short(exc)})"
            ) from None
    where = name if len(sheets) == 1 else f"{name}, sheet {chosen!r}"
    if frame.empty:
        others = [s for s in sheets if s != chosen]
        hint = (
            f"; the other sheets are {', '.join(map(repr, others))}: choose one with --sheet NAME"
            if others
            else ""
        )
        raise InputFileError(f"{where}: the sheet is empty{hint}")
    header = ["" if pd.isna(h) else str(h).strip() for h in frame.iloc[0]]
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise InputFileError(f"{where}: column names appear more than once: {', '.join(dupes)}")
    _refuse_formulas_without_values(p, where, chosen, header)
    _refuse_error_values(p, where, chosen, header)
    frame = frame.iloc[1:]
    frame.columns = [h if h else f"Unnamed: {i}" for i, h in enumerate(header)]
    frame.index = range(len(frame))
    frame = frame.dropna(how="all")
    return RawTable(frame=frame, path=name, first_row=2)


_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_ERROR_CELL = re.compile(rb"""<(?:\w+:)?c\s[^>]*\bt=["']e["']""")


def _sheet_parts_match(p: Path, pattern: re.Pattern) -> bool:
    """Whether any worksheet's XML matches ``pattern`` (a cheap test before openpyxl)."""
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            parts = [
                n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")
            ]
            return any(pattern.search(z.read(n)) for n in parts)
    except (zipfile.BadZipFile, OSError, KeyError):  # pandas read it, so this cannot happen
        return False


def _refuse_error_values(p: Path, where: str, sheet: str, header: list[str]) -> None:
    """Cells holding a spreadsheet error (#DIV/0!, #N/A, #VALUE!, ...) would silently become
    missing scores: refuse them by cell."""
    if not _sheet_parts_match(p, _ERROR_CELL):
        return
    import openpyxl
    from openpyxl.utils import get_column_letter

    bad = []
    book = openpyxl.load_workbook(p, read_only=True, data_only=True)
    try:
        for row in book[sheet].iter_rows():
            for cell in row:
                if getattr(cell, "data_type", None) == "e":
                    bad.append((cell.row, cell.column, str(cell.value)))
    finally:
        book.close()
    if not bad:
        return
    lines = []
    for r, c, value in bad[:10]:
        col = header[c - 1] if c - 1 < len(header) and header[c - 1] else get_column_letter(c)
        lines.append(f"{where}, row {r}, column {col} (cell {get_column_letter(c)}{r}): {value}")
    if len(bad) > 10:
        lines.append(f"... and {len(bad) - 10} more error cells")
    n = len(bad)
    raise InputFileError(
        f"{where}: {n} cell{'s' if n != 1 else ''} holding a spreadsheet error instead of a "
        "value; correct the formula or enter the value (an empty cell means missing)\n"
        + "\n".join(lines)
    )


def _refuse_formulas_without_values(p: Path, where: str, sheet: str, header: list[str]) -> None:
    """Formula cells saved without their value (files written by programs that do not
    calculate, e.g. scripts) would silently become missing scores: refuse them by cell."""
    if not _sheet_parts_match(p, _FORMULA):
        return
    import openpyxl
    from openpyxl.utils import get_column_letter

    formulas = {}
    book = openpyxl.load_workbook(p, read_only=True, data_only=False)
    try:
        for row in book[sheet].iter_rows():
            for cell in row:
                if getattr(cell, "data_type", None) == "f":
                    formulas[(cell.row, cell.column)] = str(cell.value)
    finally:
        book.close()
    if not formulas:
        return
    lost = []
    book = openpyxl.load_workbook(p, read_only=True, data_only=True)
    try:
        for row in book[sheet].iter_rows():
            for cell in row:
                key = (getattr(cell, "row", None), getattr(cell, "column", None))
                # a formula whose text result is "" is saved as type "str": a real empty cell
                if key in formulas and cell.value is None and cell.data_type != "str":
                    lost.append(key)
    finally:
        book.close()
    if not lost:
        return
    lines = []
    for r, c in sorted(lost)[:10]:
        col = header[c - 1] if c - 1 < len(header) and header[c - 1] else get_column_letter(c)
        lines.append(
            f"{where}, row {r}, column {col} (cell {get_column_letter(c)}{r}): formula "
            f"{formulas[(r, c)]} has no saved value"
        )
    if len(lost) > 10:
        lines.append(f"... and {len(lost) - 10} more formula cells without a saved value")
    n = len(lost)
    raise InputFileError(
        f"{where}: {n} formula cell{'s' if n != 1 else ''} without a saved value (the file was "
        "written by a program that does not calculate formulas); open and save it in Excel or "
        "LibreOffice, or replace the formulas by their values\n" + "\n".join(lines)
    )


def sheet_names(path: str | Path) -> list[str]:
    """The worksheets of an ``.xlsx`` file, in order ([] for other files or unreadable ones)."""
    if Path(path).suffix.lower() != ".xlsx":
        return []
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            return list(book.sheet_names)
    except Exception:  # the reader itself says why a file cannot be read
        return []


def value_labels_of(path: str | Path) -> dict[str, dict]:
    """The value labels of an SPSS (``.sav``) or Stata (``.dta``) file, by column:
    ``{"arm": {1: "TAU", 2: "IPT"}}`` ({} for other files or unreadable ones)."""
    ext = Path(path).suffix.lower()
    if ext not in (".sav", ".dta"):
        return {}
    try:
        import pyreadstat

        reader = pyreadstat.read_sav if ext == ".sav" else pyreadstat.read_dta
        _, meta = reader(str(path), metadataonly=True)
    except Exception:  # the reader itself says why a file cannot be read
        return {}
    return {str(k).strip(): dict(v) for k, v in (meta.variable_value_labels or {}).items() if v}


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
