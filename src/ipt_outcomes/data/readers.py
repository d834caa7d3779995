"""Read a score file of any supported format into a raw table, refusing unreadable files clearly.

Formats by extension: ``.csv`` / ``.txt`` / ``.tsv`` (UTF-8 with or without BOM, LF or CRLF,
comma, semicolon, tab or | separated), ``.xlsx``, ``.parquet``, ``.sas7bdat``, ``.sav``, ``.dta``.
Text files are read with every cell as text, so that nothing is silently coerced: turning cells
into numbers is the validator's job, which can then say which cell was wrong. Every table then
passes :func:`ipt_outcomes.data.cells.clean_cells` (one spelling per label, booleans and dates
never numbers, floating-point noise snapped, decimal commas read as meant).

Work is bounded by what a file declares before it is read: its size, its rows and columns, and
for the compressed formats (.xlsx, .parquet) the size they unpack to, so that a small file
cannot make the tool read gigabytes.
"""

from __future__ import annotations

import codecs
import csv
import errno
import hashlib
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..exceptions import InputFileError, InputWarning
from .cells import clean_cells, clean_header

__all__ = [
    "RawTable",
    "read_table",
    "sheet_names",
    "value_labels_of",
    "SUPPORTED_EXTENSIONS",
    "MAX_BYTES",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MAX_UNPACKED_BYTES",
]

TEXT_EXTENSIONS = (".csv", ".txt", ".tsv")
SUPPORTED_EXTENSIONS = (*TEXT_EXTENSIONS, ".xlsx", ".parquet", ".sas7bdat", ".sav", ".dta")
MAX_COLUMNS = 2_000
MAX_BYTES = 1 << 30  # 1 GiB: larger files are refused rather than read into memory
#: Rows of one table: 5 million is 250,000 subjects at 20 visits.
MAX_ROWS = 5_000_000
#: What a compressed file (.xlsx parts, .parquet pages) may unpack to, as it declares.
MAX_UNPACKED_BYTES = 512 << 20
#: The longest line of a text file: a 16 MiB row is not data (a quote left open, line ends
#: missing), and is refused before the file is decoded.
MAX_LINE_BYTES = 16 << 20
#: Compression beyond this ratio in a large part is a decompression bomb, not a spreadsheet.
MAX_RATIO = 500


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
    sha256: str | None = None  # SHA-256 of the file's bytes as read (text files), for provenance

    def row_label(self, index: int) -> str:
        """How the user finds the row of this index: ``"row 12"`` or ``"record 11"``."""
        return f"{self.row_word} {int(index) + self.first_row}"


def read_table(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    value_labels: str = "codes",
    snap_columns=None,
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
    snap_columns : collection of str, optional
        Columns whose floating-point noise (``2.9999999999``) is read as the round number, with
        a warning (default: every column); other columns keep every digit as written.

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
    _check_file(p, name)
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
    try:
        if ext in TEXT_EXTENSIONS:
            table = _read_text(p, name, encoding)
        else:
            table = _read_binary(p, name, ext, sheet, value_labels)
    except MemoryError:
        raise InputFileError(
            f"{name}: the file does not fit in this machine's memory; split it by arm or site, "
            "or keep only the needed columns"
        ) from None
    except OSError as exc:  # e.g. permission denied, an I/O error of the disk
        raise InputFileError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    frame = table.frame
    where = table.where or name
    _check_shape(frame.shape, where)
    header = clean_header([str(c) for c in frame.columns], where)
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputFileError(f"{where}: column names appear more than once: {', '.join(dupes)}")
    frame.columns = header
    if len(frame) == 0:
        raise InputFileError(f"{name}: the file has a header but no data rows")
    frame = clean_cells(frame, where=where, row_label=table.row_label, decimal=table.decimal,
                        text=table.text, snap_columns=snap_columns)  # fmt: skip
    return RawTable(frame=frame, path=name, first_row=table.first_row, row_word=table.row_word,
                    decimal=table.decimal, sha256=table.sha256)  # fmt: skip


def _check_file(p: Path, name: str) -> None:
    """Refuse what is not a regular file, saying what it is (a link to nothing, a loop of links,
    a folder, a named pipe that would wait for a writer forever, a device)."""
    try:
        st = p.stat()  # follows links
    except FileNotFoundError:
        if p.is_symlink():
            raise InputFileError(
                f"{name}: is a symbolic link to {os.readlink(p)}, which does not exist"
            ) from None
        raise InputFileError(f"{name}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputFileError(
                f"{name}: is a symbolic link that leads back to itself (a loop of links)"
            ) from None
        raise InputFileError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(f"{name}: is a directory, not a data file")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        raise InputFileError(f"{name}: is {kind}, not a data file; give the file itself")


def _check_shape(shape: tuple[int, int], where: str) -> None:
    rows, cols = shape
    if cols > MAX_COLUMNS:
        raise InputFileError(
            f"{where}: {cols} columns is more than the {MAX_COLUMNS} this tool accepts"
        )
    if rows > MAX_ROWS:
        raise InputFileError(
            f"{where}: {rows:,} rows is more than the {MAX_ROWS:,} this tool reads (250,000 "
            "subjects at 20 visits); split the file by arm or site"
        )


@dataclass
class _Read:
    """A table as one format's reader gives it, before the cells are made plain."""

    frame: pd.DataFrame
    first_row: int = 2
    row_word: str = "row"
    decimal: str = "."
    text: str | None = None  # the whole text of a text file (lets clean_cells skip work)
    where: str | None = None  # the file and, in a workbook of several sheets, the sheet
    sha256: str | None = None  # of the bytes read (text files: hashed as read, not read again)

    def row_label(self, index: int) -> str:
        return f"{self.row_word} {int(index) + self.first_row}"


#: Byte-order marks of the Unicode encodings that spreadsheet programs write ("Unicode text").
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Excel's first line naming the separator of a CSV file ("sep=;").
_SEP_LINE = re.compile(r'^"?sep=(.)"?\s*$', re.IGNORECASE)


def _wide_encoding(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError:
        return False


def _line_of(data: bytes | str, position: int) -> int:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, position) + 1


def _longest_line(data: bytes, chunk: int = 64 << 20) -> tuple[int, int]:
    """(start, length) of the longest line of ``data``, found a chunk at a time (memory stays
    a small multiple of the chunk)."""
    import numpy as np

    best, best_start, line_start = 0, 0, 0
    view = memoryview(data)
    for offset in range(0, len(data), chunk):
        block = np.frombuffer(view[offset : offset + chunk], dtype=np.uint8)
        ends = np.flatnonzero(block == 10) + offset
        if len(ends):
            starts = np.concatenate(([line_start], ends[:-1] + 1))
            lengths = ends - starts
            i = int(np.argmax(lengths))
            if lengths[i] > best:
                best, best_start = int(lengths[i]), int(starts[i])
            line_start = int(ends[-1]) + 1
    if len(data) - line_start > best:
        best, best_start = len(data) - line_start, line_start
    return best_start, best


def _first_line(text: str) -> str:
    end = text.find("\n")
    return (text if end < 0 else text[:end]).rstrip("\r")


def _read_text(p: Path, name: str, encoding: str | None) -> _Read:
    data = p.read_bytes()
    digest = hashlib.sha256(data).hexdigest()  # for the provenance: the file is read once
    if encoding is None:  # UTF-16/32 with a byte-order mark is unambiguous: read it as such
        encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if data.startswith(b"PK\x03\x04"):
        raise InputFileError(
            f"{name}: is a zip archive, not CSV text (an Excel workbook saved under a text "
            "name?); give it its own extension, e.g. .xlsx, or save the sheet as CSV"
        )
    if data.startswith(b"\x1f\x8b"):
        raise InputFileError(
            f"{name}: is a gzip-compressed file, not CSV text; unpack it first (gunzip)"
        )
    wide = encoding is not None and _wide_encoding(encoding)
    if not wide and b"\x00" in data[:65536]:
        raise InputFileError(
            f"{name}: looks like a binary file (it contains NUL bytes), not CSV text"
            " (if it is UTF-16 text, give --encoding utf-16)"
        )
    if not wide and data.count(b"\n") > MAX_ROWS + 1:  # before parsing, not after
        raise InputFileError(
            f"{name}: more than {MAX_ROWS:,} lines, more rows than this tool reads (250,000 "
            "subjects at 20 visits); split the file by arm or site"
        )
    if not wide and len(data) > MAX_LINE_BYTES:
        start, length = _longest_line(data)
        if length > MAX_LINE_BYTES:
            raise InputFileError(
                f"{name}: row {_line_of(data, start)} is {length / 2**20:,.0f} MiB long; no "
                "data row is (is a quote left open, or are the line ends missing?)"
            )
    enc = encoding or "utf-8-sig"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        raise InputFileError(
            f"{name}: row {line}: the file is not {enc.replace('-sig', '')} text (byte "
            f"0x{data[exc.start]:02x}); save it as UTF-8 or give --encoding, e.g. --encoding latin-1"
        ) from None
    except LookupError:
        raise InputFileError(
            f"{name}: unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252, utf-16)"
        ) from None
    del data
    if text.startswith("\ufeff"):
        text = text[1:]
    nul = text.find("\x00")
    if nul >= 0:
        raise InputFileError(
            f"{name}: row {_line_of(text, nul)}: a NUL character (a zero byte) in the text: the "
            f"file is damaged or not {enc.replace('-sig', '')} text; give the right --encoding "
            "or save the file again as CSV"
        )
    if not text.strip():
        raise InputFileError(f"{name}: the file is empty")
    if "\n" not in text and "\r" in text:  # old Macintosh line ends (Excel for Mac's "CSV")
        text = text.replace("\r", "\n")
    first_row = 2
    first_line = _first_line(text)
    hint = _SEP_LINE.match(first_line)
    if hint:  # Excel's "sep=;" line: the separator is given, the header is the next line
        text = text[len(first_line) :].lstrip("\r").removeprefix("\n")
        first_line, first_row = _first_line(text), 3
        if not text.strip():
            raise InputFileError(f"{name}: the file has only Excel's 'sep=' line")
    sep = hint.group(1) if hint else _sniff_separator(first_line, p.suffix.lower())
    try:
        raw_header = next(csv.reader([first_line], delimiter=sep), [])
    except csv.Error as exc:
        raise InputFileError(f"{name}: the header cannot be read ({exc})") from None
    # an empty name (a trailing separator) is an unnamed column, as in a workbook
    raw_header = [h if h.strip() else f"Unnamed: {i}" for i, h in enumerate(raw_header)]
    if len(raw_header) > MAX_COLUMNS:
        raise InputFileError(
            f"{name}: {len(raw_header)} columns is more than the {MAX_COLUMNS} this tool accepts"
        )
    header = [h.strip() for h in raw_header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputFileError(f"{name}: column names appear more than once: {', '.join(dupes)}")
    frame = _arrow_cells(text, sep, raw_header)
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
        unclosed = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if unclosed:  # pandas counts the header as row 0
            raise InputFileError(
                f'{name}: row {int(unclosed[1]) + first_row - 1}: a quote (") opens a cell that '
                "is never closed, so the rest of the file would be one cell; close or remove it"
            ) from None
        raise InputFileError(
            f"{name}: the rows do not line up with the header: some rows have more fields than "
            f"the header's {len(header)} ({_short(exc)})"
        ) from None
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{name}: the file is empty") from None
    frame.columns = header
    blank = (frame == "").all(axis=1) if frame.shape[1] else pd.Series(True, index=frame.index)
    frame = frame.loc[~blank]
    _refuse_repeated_header(frame, header, name, first_row)
    return _Read(frame, first_row=first_row, decimal="," if sep == ";" else ".", text=text,
                 sha256=digest)  # fmt: skip


def _refuse_repeated_header(frame: pd.DataFrame, header: list[str], name: str, first_row: int):
    """A row that repeats the header: two files joined into one (the second header would be
    read as a subject called 'subject_id')."""
    named = [c for c in header if not c.startswith("Unnamed: ")]
    if len(named) < 2 or len(frame) == 0:
        return
    again = frame[named[0]].str.strip() == named[0]
    for col in named[1:3]:
        again &= frame[col].str.strip() == col
    if again.any():
        rows = [int(i) + first_row for i in again[again].index[:5]]
        raise InputFileError(
            f"{name}: row {', '.join(map(str, rows))} repeat{'s' if len(rows) == 1 else ''} the "
            "header (were files joined?); remove the repeated header rows"
        )


def _arrow_cells(text: str, sep: str, header: list[str]) -> pd.DataFrame | None:
    """Every cell as text, parsed by Arrow on all cores: the same table as the row-by-row parser
    gives, or None when the file is not a plain rectangle (a blank line, a ragged row), for which
    the row-by-row parser finds what is wrong."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if len(set(header)) < len(header):
        return None
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
) -> _Read:
    try:
        if ext == ".xlsx":
            return _read_xlsx(p, name, sheet)
        if ext == ".parquet":
            frame = _read_parquet(p, name)
        else:
            frame = _read_statistical(p, name, ext, value_labels)
    except InputFileError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # every reader has its own exception types
        kind = {".parquet": "Parquet", ".sas7bdat": "SAS", ".sav": "SPSS", ".dta": "Stata"}[ext]
        raise InputFileError(f"{name}: cannot be read as a {kind} file ({_short(exc)})") from None
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return _Read(frame, first_row=1, row_word="record")


def _read_parquet(p: Path, name: str) -> pd.DataFrame:
    """A Parquet file, its declared size checked first (rows, columns, what its pages unpack
    to); text columns read as dictionaries, so that one long text repeated down a column
    costs its length once, and checked before they are expanded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(p).metadata
    where = name
    _check_shape((meta.num_rows, meta.num_columns), where)
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > MAX_UNPACKED_BYTES:
        raise InputFileError(
            f"{where}: the file unpacks to {unpacked / 2**20:,.0f} MiB (as its pages declare), "
            f"more than the {MAX_UNPACKED_BYTES / 2**20:,.0f} MiB this tool reads; keep only "
            "the needed columns, or split the file"
        )
    schema = pq.read_schema(p)
    texts = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
             or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]  # fmt: skip
    table = pq.ParquetFile(p, read_dictionary=texts).read()
    frame = table.to_pandas()
    for col in texts:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            lengths = s.cat.categories.map(len) if len(s.cat.categories) else []
            if len(lengths) and max(lengths) > 32_767:
                raise InputFileError(
                    f"{where}, column {col}: a text of {max(lengths):,} characters, more than a "
                    "spreadsheet cell holds (32,767)"
                )
            frame[col] = s.astype(object).where(s.notna(), None)
    return frame


def _read_statistical(p: Path, name: str, ext: str, value_labels: str) -> pd.DataFrame:
    """SAS, SPSS or Stata: rows and columns as declared checked first, and never more rows
    read than the limit."""
    import pyreadstat

    reader = {
        ".sas7bdat": pyreadstat.read_sas7bdat,
        ".sav": pyreadstat.read_sav,
        ".dta": pyreadstat.read_dta,
    }[ext]
    _, meta = reader(str(p), metadataonly=True)
    rows = meta.number_rows if isinstance(meta.number_rows, int) and meta.number_rows >= 0 else 0
    _check_shape((rows, meta.number_columns or 0), name)
    kwargs = {"row_limit": MAX_ROWS + 1}
    if ext != ".sas7bdat":
        kwargs["apply_value_formats"] = value_labels == "labels"
    frame, _meta = reader(str(p), **kwargs)
    return frame


def _check_zip(p: Path, name: str) -> None:
    """A workbook's parts as declared in its zip directory: refuse, before anything is
    unpacked, one that would unpack to more than the limit or holds a part compressed beyond
    any spreadsheet's ratio (a decompression bomb). Python's zip reader stops at the declared
    sizes, so these bound what is read."""
    import zipfile

    with p.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise InputFileError(
            f"{name}: is a password-protected workbook or an old Excel 97-2003 file (.xls), "
            "which this tool cannot read; save it in Excel as .xlsx without a password"
        )
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: openpyxl says why
    if len(infos) > 10_000:
        raise InputFileError(
            f"{name}: the workbook has {len(infos):,} parts; a spreadsheet has a few dozen "
            "(a damaged or hostile file?)"
        )
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED_BYTES:
        raise InputFileError(
            f"{name}: the workbook unpacks to {total / 2**20:,.0f} MiB (as its parts declare), "
            f"more than the {MAX_UNPACKED_BYTES / 2**20:,.0f} MiB this tool reads; save the "
            "sheet as CSV, or split it"
        )
    for i in infos:
        if i.file_size > (10 << 20) and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise InputFileError(
                f"{name}: part {i.filename} unpacks {i.file_size / max(i.compress_size, 1):,.0f} "
                f"times its stored size ({i.file_size / 2**20:,.0f} MiB), which no spreadsheet "
                "does: a decompression bomb or a damaged file; save the sheet again as .xlsx"
            )


def _read_xlsx(p: Path, name: str, sheet: str | None) -> _Read:
    import openpyxl

    _check_zip(p, name)
    try:
        book = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            f"{name}: cannot be read as an Excel .xlsx file ({_short(exc)})"
        ) from None
    try:
        sheets = list(book.sheetnames)
        if not sheets:
            raise InputFileError(f"{name}: the workbook has no sheets")
        if sheet is not None and sheet not in sheets:
            raise InputFileError(
                f"{name}: there is no sheet {sheet!r}; the sheets are {', '.join(map(repr, sheets))}"
            )
        # without --sheet: the first sheet a user sees in Excel (hidden sheets are skipped)
        shown = [ws.title for ws in book.worksheets if ws.sheet_state == "visible"]
        chosen = sheet if sheet is not None else (shown or sheets)[0]
        where = name if len(sheets) == 1 else f"{name}, sheet {chosen!r}"
        ws = book[chosen]
        if not hasattr(ws, "iter_rows"):
            raise InputFileError(f"{where}: is a chart, not a sheet of data; give --sheet NAME")
        try:
            header, rows, noisy = _sheet_cells(ws, where)
        except InputFileError:
            raise
        except Exception as exc:
            raise InputFileError(
                f"{where}: sheet {chosen!r} cannot be read ({_short(exc)})"
            ) from None
        part = getattr(ws, "_worksheet_path", None)
    finally:
        book.close()
    if header is None:
        others = [s for s in sheets if s != chosen]
        hint = (
            f"; the other sheets are {', '.join(map(repr, others))}: choose one with --sheet NAME"
            if others
            else ""
        )
        raise InputFileError(f"{where}: the sheet is empty{hint}")
    names = ["" if h is None else str(h).strip() for h in header]
    dupes = sorted({h for h in names if h and names.count(h) > 1})
    if dupes:
        raise InputFileError(f"{where}: column names appear more than once: {', '.join(dupes)}")
    _refuse_formulas_without_values(p, where, chosen, names)
    _refuse_error_values(p, where, chosen, names)
    if part:
        _sheet_layout(p, part, where, names)
    columns = [h if h else f"Unnamed: {i}" for i, h in enumerate(names)]
    index = [r for r, _ in rows]
    frame = pd.DataFrame([v for _, v in rows], columns=columns, index=index, dtype=object)
    if noisy:  # numbers, already snapped: say so here (text cells are checked by clean_cells)
        pos, i, before, after = noisy[0]
        n = len(noisy)
        cols = ", ".join(sorted({columns[j] for _, j, _, _ in noisy}))
        warnings.warn(
            f"{where}, column {cols}: {n:,} cell{'s' if n != 1 else ''} read as the round number "
            f"next to them (floating-point noise of a spreadsheet formula, less than 1e-9 "
            f"apart); e.g. row {pos + 2}, column {columns[i]}: {before!r} as {after:g}",
            InputWarning,
            stacklevel=3,
        )
    return _Read(frame, first_row=2, where=where)


def _sheet_cells(ws, where: str):
    """(header, [(position, values)], snapped numbers) of a read-only worksheet; empty rows are
    left out (their positions kept, so that row numbers are the sheet's). Only the header's
    columns are read, and never more than the row limit."""
    from .cells import cell_value

    ws.reset_dimensions()  # a workbook's declared size can be wrong: read what is there
    first = next(
        ws.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS + 1, values_only=True), None
    )
    if first is None:
        return None, [], []
    filled = [i for i, v in enumerate(first) if v is not None and str(v).strip() != ""]
    if len(filled) > MAX_COLUMNS or len(first) > MAX_COLUMNS and first[MAX_COLUMNS] is not None:
        raise InputFileError(
            f"{where}: more than {MAX_COLUMNS} columns, more than this tool accepts"
        )
    width = filled[-1] + 1 if filled else 0
    rows: list[tuple[int, list]] = []
    noisy: list = []
    if width == 0:  # row 1 is empty: an empty sheet, or data below an empty header
        for row in ws.iter_rows(min_row=2, values_only=True):
            if any(v is not None for v in row):
                raise InputFileError(
                    f"{where}: row 1 is empty; the column names must be on the sheet's first row"
                )
        return None, [], []
    header = [cell_value(v) for v in first[:width]]
    from .cells import ZERO_ONE_COLUMNS

    yes_no = {
        i for i, h in enumerate(header) if isinstance(h, str) and h.strip() in ZERO_ONE_COLUMNS
    }
    for pos, row in enumerate(ws.iter_rows(min_row=2, max_col=width, values_only=True)):
        if pos >= MAX_ROWS:
            raise InputFileError(
                f"{where}: more than {MAX_ROWS:,} rows, more than this tool reads (250,000 "
                "subjects at 20 visits); split the file by arm or site"
            )
        if all(v is None for v in row):
            continue
        values = [cell_value(v) if type(v) is not bool or i not in yes_no else int(v)
                  for i, v in enumerate(row)]  # fmt: skip
        for i, (v, w) in enumerate(zip(row, values, strict=False)):
            if type(v) is float and w != v:
                noisy.append((pos, i, v, w))
        if len(values) < width:
            values += [None] * (width - len(values))
        rows.append((pos, values))
    return header, rows, noisy


_HIDDEN_ROW = re.compile(
    rb"""<(?:\w+:)?row\b[^>]*?\br=["'](\d+)["'][^>]*?\bhidden=["'](?:1|true)["']"""
)
_HIDDEN_ROW2 = re.compile(
    rb"""<(?:\w+:)?row\b[^>]*?\bhidden=["'](?:1|true)["'][^>]*?\br=["'](\d+)["']"""
)
_MERGED = re.compile(rb"""<(?:\w+:)?mergeCell\b[^>]*\bref=["']([A-Z]+)(\d+):([A-Z]+)(\d+)["']""")


def _column_number(letters: bytes) -> int:
    n = 0
    for c in letters.decode():
        n = n * 26 + ord(c) - 64
    return n


def _spans(rows: list[int]) -> str:
    """Row numbers as short spans: 3, 5-9, 12."""
    out, start, prev = [], None, None
    for r in sorted(set(rows)):
        if start is None:
            start = prev = r
        elif r == prev + 1:
            prev = r
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = r
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    text = ", ".join(out[:10])
    return text + (f" and {len(out) - 10} more" if len(out) > 10 else "")


def _sheet_layout(p: Path, part: str, where: str, header: list[str]) -> None:
    """What Excel shows differently from what is stored: merged cells in the data (only the
    first cell of a merged range holds a value, the others are empty) are refused; hidden rows
    (hiding is not deleting: they are data) are read, with a warning."""
    import zipfile

    from openpyxl.utils import get_column_letter

    try:
        with zipfile.ZipFile(p) as z:
            xml = z.read(part.lstrip("/"))
    except (KeyError, zipfile.BadZipFile, OSError):
        return
    merged = []
    for m in _MERGED.finditer(xml):
        c1, r1, c2, r2 = _column_number(m[1]), int(m[2]), _column_number(m[3]), int(m[4])
        if r2 >= 2 and c1 <= len(header):
            merged.append((r1, c1, r2, c2))
    if merged:
        lines = []
        for r1, c1, r2, c2 in merged[:10]:
            col = (
                header[c1 - 1] if c1 - 1 < len(header) and header[c1 - 1] else get_column_letter(c1)
            )
            cells = f"{get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2}"
            lines.append(f"{where}, rows {r1}-{r2}, column {col} (cells {cells}): merged cells")
        if len(merged) > 10:
            lines.append(f"... and {len(merged) - 10:,} more merged ranges")
        raise InputFileError(
            f"{where}: {len(merged)} range{'s' if len(merged) != 1 else ''} of merged cells in the "
            "data; only the first cell of a merged range holds a value and the others are empty: "
            "unmerge them and fill in every row\n" + "\n".join(lines)
        )
    hidden = [int(m[1]) for m in _HIDDEN_ROW.finditer(xml)] + [
        int(m[1]) for m in _HIDDEN_ROW2.finditer(xml)
    ]
    hidden = [r for r in hidden if r >= 2]
    if hidden:
        n = len(set(hidden))
        warnings.warn(
            f"{where}: {n:,} row{'s' if n != 1 else ''} hidden in Excel ({_spans(hidden)}) "
            f"{'are' if n != 1 else 'is'} read as data (hiding a row does not delete it)",
            InputWarning,
            stacklevel=4,
        )


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
        _check_zip(Path(path), str(path))  # never unpack a bomb to list its sheets
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        try:
            return list(book.sheetnames)
        finally:
            book.close()
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
