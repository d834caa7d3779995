"""What is in a cell, made plain before validation: the habits of spreadsheets and of other
programs that would otherwise be misread without a word.

The readers (:mod:`ipt_outcomes.data.readers`) pass every table they read through
:func:`clean_cells`; the validator then sees one spelling of every label and no number that is
not one. What happens to a cell:

* **Text** is Unicode NFC, so a label typed on one machine (``"hoito ä"``, precomposed) and
  pasted from another (``"hoito a"`` + combining diaeresis) is one label. Invisible characters
  that make labels that print alike differ (zero-width spaces, byte-order marks inside cells,
  soft hyphens, direction marks) are removed, and Unicode spaces (no-break, thin, ...) become
  ordinary spaces; a warning says in which cells. Control characters and direction overrides
  (which make a label print as another, or rewrite a terminal) are refused by cell, as is a
  cell longer than a spreadsheet cell can be (32,767 characters).
* **Booleans** (TRUE/FALSE cells of a workbook, boolean columns of a typed file) become the
  text ``TRUE`` / ``FALSE``, which no number column accepts: a comparison formula in a score
  column is refused by the validator, never read as the score 1 or 0. The one exception is
  the contract's yes/no column ``antidepressant`` (0/1), where a boolean, or the words
  TRUE/FALSE (WAHR/FALSCH, VRAI/FAUX), in any format, is 1/0.
* **Dates and times** become ISO text (``2024-03-31``): a visit is a time since
  randomisation, and a date where a number should be is refused by the validator.
* **Floating-point noise** (``2.9999999999`` from a spreadsheet formula such as ``=B2/7*7``):
  a number within 1e-9 (relative) of one with at most six decimals is read as that number, and
  a warning says which cells. Nothing a person types is that close to a round number without
  being it; a visit at 2.99 or 3.0001 is left alone (and validated as written).
* **Decimal commas** (semicolon-separated files, as European spreadsheets write them): a dot
  in a column that writes decimal commas is a thousands separator (``1.234,5`` = 1234.5); a
  column that mixes decimal points and decimal commas is refused by cell; a ``1.095`` among
  whole numbers, which could be either, is read as written with a warning.
* Excel's text formulas for keeping leading zeros (``="007"``) are read as the text Excel
  shows (``007``), with a warning.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import unicodedata
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..exceptions import InputFileError, InputWarning

__all__ = [
    "clean_cells",
    "clean_header",
    "cell_value",
    "snap",
    "LISTED",
    "MAX_CELL_CHARS",
    "NOISE",
]

#: The most characters an Excel cell holds; a longer cell is not data (broken quoting, a
#: pasted document).
MAX_CELL_CHARS = 32_767
#: The longest column name (a name is not a paragraph).
MAX_NAME_CHARS = 1_000
#: Relative distance below which a number is taken for the round number it is next to.
NOISE = 1e-9
#: Decimals of a "round" number.
DECIMALS = 6
#: Cells listed per kind of problem in a message (then "... and N more cells like this").
LISTED = 10

#: Invisible and meaningless in a label: removed (zero-width space, word joiner, byte-order
#: mark, soft hyphen, Mongolian vowel separator, left-to-right / right-to-left / Arabic marks).
_REMOVED = "\u200b\u2060\ufeff\u00ad\u180e\u200e\u200f\u061c"
#: Zero-width (non-)joiners: meaningful inside words of some scripts and in emoji, so kept
#: inside a cell, but removed at its edges, where they join nothing.
_JOINERS = "\u200c\u200d"
#: Unicode spaces that print as a space: made ordinary spaces.
_SPACES = (
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000"
)
#: Blank letters that print as nothing or a space (Hangul fillers, the combining grapheme
#: joiner) and the braille blank.
_BLANKS = "\u115f\u1160\u3164\uffa0\u034f"
_TRANSLATE = str.maketrans(
    {**dict.fromkeys(_SPACES + "\u2800", " "), **dict.fromkeys(_REMOVED + _BLANKS)}
)
#: A variation selector after a plain character changes nothing that prints.
_PLAIN_VARIATION = re.compile("(?<=[\x20-\x7e])[\ufe00-\ufe0f]")
#: Refused: control characters (but tab, line feed, carriage return), line and paragraph
#: separators, and the bidirectional embeddings, overrides and isolates.
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n\r"
#: Anything but printable ASCII, tab and line ends: the cells worth a closer look.
_SUSPECT = "[^\t\n\r\x20-\x7e]"
_EDGE_JOINER = re.compile(r"^[\s\u200c\u200d]*[\u200c\u200d]|[\u200c\u200d][\s\u200c\u200d]*$")

_NOISY = r"\s*[+-]?\d+[.,]\d{9,}(?:[eE][+-]?\d+)?\s*"
_EXCEL_TEXT = r'="[^"]*"'
_COMMA_DECIMAL = r"\s*[+-]?\d*,\d+\s*"
_GROUPED = r"\s*[+-]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?\s*"
_DOT_DECIMAL = r"\s*[+-]?\d*\.\d+(?:[eE][+-]?\d+)?\s*"


def snap(x: float) -> float:
    """``x``, or the number with at most six decimals it differs from by floating-point noise.

    Examples
    --------
    >>> snap(2.9999999999), snap(0.1 + 0.2), snap(2.99), snap(1 / 3)
    (3.0, 0.3, 2.99, 0.3333333333333333)
    """
    if not math.isfinite(x):
        return x
    r = round(x, DECIMALS)
    if r != x and abs(x - r) <= NOISE * max(1.0, abs(x)):
        return r + 0.0  # -0.0 -> 0.0
    return x


def _number_text(x: float) -> str:
    """A snapped number as text, as a person writes it (``3``, ``1.5``)."""
    return f"{x:.{DECIMALS}f}".rstrip("0").rstrip(".") or "0"


def cell_value(v, noisy: list | None = None):
    """One workbook cell as the validator should see it: booleans as ``TRUE``/``FALSE``,
    dates and times as ISO text, floating-point noise snapped (appended to ``noisy`` as
    ``(before, after)``); anything else unchanged.

    Examples
    --------
    >>> import datetime
    >>> cell_value(True), cell_value(datetime.datetime(2024, 3, 31)), cell_value(2.9999999999)
    ('TRUE', '2024-03-31', 3.0)
    """
    t = type(v)
    if t is str or t is int or v is None:
        return v
    if t is pd.Timestamp:
        v = v.to_pydatetime()
    elif t is pd.Timedelta:
        v = v.to_pytimedelta()
    if t is float:
        s = snap(v)
        if s != v and noisy is not None:
            noisy.append((v, s))
        return s
    if t is bool or t is np.bool_:
        return "TRUE" if v else "FALSE"
    if isinstance(v, _dt.datetime):
        if v.hour == v.minute == v.second == v.microsecond == 0:
            return v.date().isoformat()
        return v.isoformat(sep=" ")
    if isinstance(v, _dt.date | _dt.time):
        return v.isoformat()
    if isinstance(v, _dt.timedelta):
        return str(v)
    return v


#: Python types a typed file can put among text: made text as :func:`cell_value` says.
_TYPED = {bool, np.bool_, _dt.datetime, _dt.date, _dt.time, _dt.timedelta, pd.Timestamp,
          pd.Timedelta}  # fmt: skip


#: The contract's yes/no columns, where a boolean means 1/0.
ZERO_ONE_COLUMNS = ("antidepressant",)
_TRUE_WORDS = {"true": 1, "wahr": 1, "vrai": 1, "false": 0, "falsch": 0, "faux": 0}


def _zero_one_column(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(int)
    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        words = s.str.strip().str.lower()
        hit = words.isin(list(_TRUE_WORDS))
        return s.where(~hit, words.map(lambda w: str(_TRUE_WORDS.get(w, w)))) if hit.any() else s
    return s.map(_zero_one)


def _zero_one(v):
    """A boolean (or its word, in English, German or French) of a yes/no column as 1/0."""
    if type(v) is bool or type(v) is np.bool_:
        return int(v)
    if isinstance(v, str) and v.strip().lower() in _TRUE_WORDS:
        return str(_TRUE_WORDS[v.strip().lower()])
    return v


def _char_name(c: str) -> str:
    return f"U+{ord(c):04X} {unicodedata.name(c, 'CONTROL CHARACTER')}"


def _shown_char(c: str) -> str:
    """A character of a label for a message: itself, or an escape when it prints as nothing,
    as a space, or as a letter of another script would."""
    escape = f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
    if c.isascii():
        return escape if _REFUSED.match(c) else c
    if c in _REMOVED or c in _JOINERS or c in _SPACES or _REFUSED.match(c):
        return escape
    if c.translate(_HOMOGLYPHS) != c or unicodedata.category(c) in ("Cf", "Zs", "Mn"):
        return escape
    return c


def _shown(v: str, limit: int = 60) -> str:
    """A cell for a message: invisible characters written as escapes, long text shortened."""
    text = "".join(_shown_char(c) for c in v[:limit]) + ("..." if len(v) > limit else "")
    return f"'{text}'"


def clean_text(v: str) -> tuple[str, str | None]:
    """``(text, None)`` with the text as the validator should see it, or ``(v, reason)`` when
    the cell must be refused.

    Examples
    --------
    >>> clean_text("TAU\\u200b"), clean_text("\\u00a0TAU"), clean_text("TA\\x07U")[1]
    (('TAU', None), (' TAU', None), 'a control character (U+0007 CONTROL CHARACTER)')
    """
    bad = _REFUSED.search(v)
    if bad is not None:
        c = bad.group()
        kind = "a control character" if c < "\u00a0" else "an invisible formatting character"
        return v, f"{kind} ({_char_name(c)})"
    out = unicodedata.normalize("NFC", v).translate(_TRANSLATE)
    if not out.isascii():  # other format characters (Cf): invisible, meaningless in a cell
        out = _PLAIN_VARIATION.sub("", out)
        out = "".join(c for c in out if c in _JOINERS or unicodedata.category(c) != "Cf")
    if _EDGE_JOINER.search(out):
        out = out.strip().strip(_JOINERS).strip()
    return out, None


def clean_header(names: list[str], where: str) -> list[str]:
    """Column names as the validator matches them: NFC, invisible characters removed, Unicode
    spaces made spaces, surrounding spaces dropped; control characters refused."""
    out = []
    for i, name in enumerate(names):
        text = str(name)
        if len(text) > MAX_NAME_CHARS:
            raise InputFileError(
                f"{where}: header (row 1), column {i + 1}: a column name of {len(text):,} "
                f"characters (at most {MAX_NAME_CHARS:,}); is the first row the header?"
            )
        if not text.isascii() or _REFUSED.search(text):
            text, reason = clean_text(text)
            if reason is not None:
                raise InputFileError(
                    f"{where}: header (row 1), column {i + 1} {_shown(text)}: the name has "
                    f"{reason}; retype the column name"
                )
        out.append(text.strip())
    return out


def _subject_column(frame: pd.DataFrame) -> str | None:
    """The subject column by its contract or ADaM name, to say whose row a cell is on."""
    return next((c for c in ("subject_id", "USUBJID", "SUBJID") if c in frame.columns), None)


class _Findings:
    """Cells to refuse and cells changed, per kind, each with its first few examples."""

    def __init__(self, frame: pd.DataFrame, where: str, row_label: Callable[[int], str]):
        self.frame, self.where, self.row_label = frame, where, row_label
        self.subject = _subject_column(frame)
        self.refused: list[str] = []
        self.n_refused = 0
        self.changed: dict[str, list] = {}

    def place(self, idx, col) -> str:
        parts = [self.where, self.row_label(idx)]
        if self.subject is not None and self.subject != col:
            s = self.frame.at[idx, self.subject]
            if isinstance(s, str):
                parts.append(f"subject {s.strip()[:60]}")
        parts.append(f"column {col}")
        return ", ".join(parts)

    def refuse(self, idx, col, message: str) -> None:
        self.n_refused += 1
        if len(self.refused) < LISTED:
            self.refused.append(f"{self.place(idx, col)}: {message}")

    def change(self, kind: str, col, idx, before, after, n: int = 1) -> None:
        entry = self.changed.setdefault(kind, [0, None, set()])
        entry[0] += n
        entry[2].add(col)
        if entry[1] is None:
            entry[1] = (idx, col, before, after)

    def finish(self) -> None:
        if self.n_refused:
            more = self.n_refused - len(self.refused)
            lines = self.refused + ([f"... and {more:,} more cells like this"] if more else [])
            n = self.n_refused
            raise InputFileError(
                f"{self.where}: {n:,} cell{'s' if n != 1 else ''} cannot be read as written\n"
                + "\n".join(lines)
            )
        for kind, (n, (idx, col, before, after), cols) in self.changed.items():
            columns = ", ".join(sorted(map(str, cols))[:5]) + (" ..." if len(cols) > 5 else "")
            what = {
                "invisible": "with invisible characters (removed) or Unicode spaces (made "
                "ordinary spaces), so that labels that print alike are alike",
                "noise": "read as the round number next to them (floating-point noise of a "
                "spreadsheet formula, less than 1e-9 apart)",
                "excel_text": 'read as the text Excel shows (="..." keeps leading zeros)',
                "thousands": "read with the dot as thousands separator (the column writes "
                "decimal commas)",
                "ambiguous": "read with the dot as decimal point, although in a file with "
                "decimal commas it could be a thousands separator (write 1095, not 1.095, "
                "if it is)",
            }[kind]
            cells = f"{n:,} cell{'s' if n != 1 else ''}"
            warnings.warn(
                f"{self.where}, column {columns}: {cells} {what}; e.g. {self.row_label(idx)}"
                f"{'' if len(cols) == 1 else f', column {col}'}: {before} as {after}",
                InputWarning,
                stacklevel=2,
            )


def clean_cells(
    frame: pd.DataFrame,
    *,
    where: str,
    row_label: Callable[[int], str],
    decimal: str = ".",
    text: str | None = None,
    snap_columns=None,
) -> pd.DataFrame:
    """Every cell of a table as read made plain (see the module's notes); returns a new frame.

    Parameters
    ----------
    frame : DataFrame
        The table as read (text cells for text files, typed columns otherwise).
    where : str
        The file (and sheet) for messages.
    row_label : callable
        Data-row position -> what the user sees (``"row 12"``).
    decimal : {".", ","}
        ``","`` for files that write decimal commas (semicolon-separated).
    text : str, optional
        The whole text of a text file: lets the common case (plain ASCII, no long lines, no
        noise) skip every per-cell check.
    snap_columns : collection of str, optional
        The columns whose floating-point noise is snapped to the round number (values that must
        match a schedule or be whole: visits, scores of an integer scale); ``None``: every
        column. Other columns keep every digit as written (measurements, effect sizes).

    Raises
    ------
    InputFileError
        Cells with control characters or direction overrides, longer than 32,767 characters,
        or numbers whose decimal separator is unclear, listed by cell (the first few of each).
    """
    found = _Findings(frame, where, row_label)
    gates = _Gates(text, decimal)
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if col in ZERO_ONE_COLUMNS:
            s = out[col] = _zero_one_column(s)
        if pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.BooleanDtype):
            out[col] = s.map(lambda v: None if pd.isna(v) else ("TRUE" if v else "FALSE"))
            continue
        if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
            out[col] = s.map(lambda v: None if pd.isna(v) else cell_value(v.to_pytimedelta()
                             if isinstance(v, pd.Timedelta) else v.to_pydatetime()))  # fmt: skip
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
            out[col] = s
        if pd.api.types.is_float_dtype(s):
            if snap_columns is None or col in snap_columns:
                out[col] = _snap_column(s, col, found)
            continue
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        if pd.api.types.is_object_dtype(s):  # typed values among text (booleans with gaps, dates)
            kinds = set(s.map(type))
            if kinds & _TYPED:
                s = s.map(lambda v: cell_value(v) if type(v) in _TYPED else v)
                out[col] = s
        out[col] = _clean_text_column(s, col, found, decimal, gates,
                                      snapping=snap_columns is None or col in snap_columns)  # fmt: skip
        if gates.look_alike:
            _look_alikes(out[col], col, found)
    found.finish()
    return out


#: Letters of other scripts that print as Latin ones (Cyrillic and Greek capitals and the
#: common small ones): the skeleton of a label, to find two that print alike.
_HOMOGLYPHS = str.maketrans(
    "АВЕКМНОРСТХУЅІЈаеорсухѕіјԁһӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧοѵ",
    "ABEKMHOPCTXYSIJaeopcyxsijdhlABEZHIKMNOPTYXov",
)
#: Columns with at most this many different values are categories (arms, sites), where two
#: values differing only in spacing print alike (HTML and spreadsheets collapse spaces).
_CATEGORY_VALUES = 100


def _skeleton(v: str, spacing: bool) -> str:
    out = unicodedata.normalize("NFKC", v).translate(_HOMOGLYPHS)
    return " ".join(out.split()) if spacing else out.strip()


def _look_alikes(s: pd.Series, col, found: _Findings) -> None:
    """Refuse two different values of one column that print alike: letters of another script
    that look Latin (``ТАU`` in Cyrillic beside ``TAU``), compatibility forms, and in a
    column of categories spacing alone (``IPT  + MED`` beside ``IPT + MED``)."""
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
        return
    texts = s[s.map(lambda v: isinstance(v, str))] if pd.api.types.is_object_dtype(s) else s
    values = [v for v in pd.unique(texts.str.strip()) if isinstance(v, str)]
    spacing = len(values) <= _CATEGORY_VALUES
    odd = [v for v in values if not v.isascii() or (spacing and ("  " in v or "\t" in v))]
    if not odd:
        return
    first: dict[str, str] = {}
    suspect = set(odd)
    # plain values first (whichever row comes first): a look-alike on an earlier row is
    # still the one refused, never the plain label after it
    for v in sorted(values, key=lambda v: v in suspect):
        first.setdefault(_skeleton(v, spacing), v)
    stripped = texts.str.strip()
    for v in odd:
        other = first.get(_skeleton(v, spacing))
        if other is not None and other != v:
            i, j = stripped.index[stripped == other][0], stripped.index[stripped == v][0]
            why = "spacing" if " ".join(v.split()) == " ".join(other.split()) else (
                "letters of another script or another form of a letter")  # fmt: skip
            found.refuse(
                j,
                col,
                f"{_shown(v)} prints like {_shown(other)} ({found.row_label(i)}) but is "
                f"different text ({why}); write the same label the same way",
            )


class _Gates:
    """What a text file can hold at all, found once in its whole text (one scan each), so that
    the common file (plain ASCII, short lines, no noise) skips every per-cell check."""

    def __init__(self, text: str | None, decimal: str):
        known = text is not None
        if known and text.isascii():  # control characters: bytes.translate is a fast scan
            controls = text.encode("ascii").translate(None, _PLAIN_ASCII)
            self.unusual = bool(controls)
        else:
            self.unusual = True
        self.long = not known or len(text) > MAX_CELL_CHARS
        self.excel_text = known and '="' in text
        self.decimal_forms = (
            known and decimal == "," and re.search(r"\d\.\d{3}|\d,\d", text) is not None
        )
        self.noise = not known or (
            ("000000" in text or "999999" in text) and re.search(r"[.,]\d{9}", text) is not None
        )
        self.look_alike = self.unusual or "  " in text or "\t" in text


def _snap_column(s: pd.Series, col, found: _Findings) -> pd.Series:
    x = s.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.round(x, DECIMALS)
        noisy = np.isfinite(x) & (r != x) & (np.abs(x - r) <= NOISE * np.maximum(1.0, np.abs(x)))
    if not noisy.any():
        return s
    i = int(np.flatnonzero(noisy)[0])
    n = int(noisy.sum())
    found.change("noise", col, s.index[i], repr(float(x[i])), _number_text(r[i]), n=n)
    y = np.where(noisy, r + 0.0, x)
    return pd.Series(y, index=s.index, dtype=s.dtype if s.dtype != object else float)


def _clean_text_column(s, col, found: _Findings, decimal: str, gates: _Gates,
                       snapping: bool = True) -> pd.Series:  # fmt: skip
    is_text = s.map(lambda v: isinstance(v, str)) if pd.api.types.is_object_dtype(s) else None
    strings = s if is_text is None else s.where(is_text)
    if is_text is not None and not is_text.any():
        return s
    if gates.unusual:
        suspect = strings.str.contains(_SUSPECT, regex=True, na=False)
        if suspect.any():
            s = s.copy() if s is strings else s
            for idx in suspect[suspect].index:
                v = s.at[idx]
                new, reason = clean_text(v)
                if reason is not None:
                    found.refuse(idx, col, f"the cell {_shown(v)} has {reason}; retype it")
                elif new != v:
                    if new.strip() != unicodedata.normalize("NFC", v).strip():
                        found.change("invisible", col, idx, _shown(v), _shown(new))
                    s.at[idx] = new
            strings = s if is_text is None else s.where(is_text)
    if gates.long:
        lengths = strings.str.len()
        if (lengths > MAX_CELL_CHARS).any():
            for idx in lengths.index[lengths > MAX_CELL_CHARS]:
                found.refuse(
                    idx,
                    col,
                    f"a cell of {int(lengths[idx]):,} characters, more than a spreadsheet cell "
                    f"holds ({MAX_CELL_CHARS:,}); is a quote left open?",
                )
            return s
    if gates.excel_text:
        excel = strings.str.fullmatch(_EXCEL_TEXT, na=False)
        if excel.any():
            s = s.copy()
            for idx in excel[excel].index:
                v = s.at[idx]
                s.at[idx] = v[2:-1]
                found.change("excel_text", col, idx, f"'{v}'", f"'{v[2:-1]}'")
            strings = s if is_text is None else s.where(is_text)
    if gates.decimal_forms:
        s = _decimal_commas(s, strings, col, found)
        strings = s if is_text is None else s.where(is_text)
    if gates.noise and snapping:
        noisy = strings.str.fullmatch(_NOISY, na=False)
        if noisy.any():
            s = s.copy()
            for idx in noisy[noisy].index:
                v = s.at[idx].strip()
                if "," in v and decimal != ",":
                    continue
                x = float(v.replace(",", "."))
                y = snap(x)
                if y != x:
                    s.at[idx] = _number_text(y)
                    found.change("noise", col, idx, v, _number_text(y))
    return s


def _decimal_commas(s, strings, col, found: _Findings):
    """A column of a decimal-comma file: dots are thousands separators where the column writes
    decimal commas; a column that mixes the two, or a number that could be read either way,
    is refused by cell."""
    comma = strings.str.fullmatch(_COMMA_DECIMAL, na=False)
    grouped = strings.str.fullmatch(_GROUPED, na=False)
    dot = strings.str.fullmatch(_DOT_DECIMAL, na=False) & ~grouped
    grouped_comma = grouped & strings.str.contains(",", regex=False, na=False)
    commas = comma | grouped_comma
    if commas.any() and dot.any():
        i, j = commas[commas].index[0], dot[dot].index[0]
        found.refuse(
            j,
            col,
            f"{s.at[j].strip()!r} has a decimal point, but the column writes decimal commas "
            f"(e.g. {found.row_label(i)}: {s.at[i].strip()!r}); write every number of a "
            "column the same way",
        )
        return s
    if commas.any():
        if grouped.any():
            s = s.copy()
            for idx in grouped[grouped].index:
                v = s.at[idx].strip()
                s.at[idx] = v.replace(".", "")
                found.change("thousands", col, idx, f"'{v}'", v.replace(".", "").replace(",", "."))
        return s
    integers = strings.str.fullmatch(r"\s*[+-]?\d+\s*", na=False)
    if grouped.any() and not dot.any() and integers.any():
        # "28", "56", "1.095": the dot could be a thousands separator; read as written (a
        # column of codes such as "101.001" has no plain integers and is left alone)
        idx = grouped[grouped].index[0]
        v = s.at[idx].strip()
        found.change("ambiguous", col, idx, f"'{v}'", v, n=int(grouped.sum()))
    return s
