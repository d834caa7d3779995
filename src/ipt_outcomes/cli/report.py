"""``ipt-outcomes report``: tables -> figures -> report.html (and RTF tables, a PDF), built once
from one Trial."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..constants import REPORT_FORMATS
from ..exceptions import IptOutcomesError
from ..output import OutputFolder
from .common import inputs_of, load
from .options import add_data_options, add_out

__all__ = ["arguments", "run", "PROJECT_DATA", "PROJECT_DESIGN", "provenance"]


def _formats(text: str) -> list[str]:
    out = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in out if f not in REPORT_FORMATS]
    if bad or not out:
        raise argparse.ArgumentTypeError(
            f"formats are a comma-separated list of {', '.join(REPORT_FORMATS)}; got {text!r}"
        )
    return out


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument(
        "--data", metavar="FILE", help="score file (default: the project's synthetic trial)"
    )
    p.add_argument("--formats", type=_formats, default=["html"], metavar="html,rtf,pdf,svg",
                   help="report formats (default html with PNG figures, always written): rtf = "
                        "every table also as RTF (rtf/), pdf = the whole report printed by headless "
                        "Chromium, svg = every figure also as SVG (vector, for manuscripts)")  # fmt: skip
    add_out(p, "reports")
    add_data_options(p)


PROJECT_DATA = Path("data/synthetic/trial.csv")
PROJECT_DESIGN = Path("analyses/saloheimo2016.toml")


def _seed_of(data: Path) -> str:
    """The seed of a generated data set (its calibration table beside it), else ''."""
    import pandas as pd

    calib = data.parent / "calibration.csv"
    if not calib.exists():
        return ""
    c = pd.read_csv(calib, dtype=str)
    row = c[c["quantity"] == "seed"]
    if not len(row):
        return ""
    text = str(row["achieved"].iloc[0]).strip()
    try:  # a seed is a whole number: "2016", never "2016.0"
        value = float(text)
    except ValueError:
        return text
    return f"{value:.0f}" if value.is_integer() else text


def _shown(path: Path) -> str:
    """A path as the user knows it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def provenance(inputs: dict, seed: str, started: float):
    """``key, value`` rows: versions, run date, seed, SHA-256 of every input (paths relative to
    the working folder, never absolute), git commit, build time."""
    import datetime
    import hashlib
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    import pandas as pd

    from .. import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "not a git checkout"
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    rows = [
        ("run date", now.strftime("%Y-%m-%d %H:%M UTC")),
        ("ipt-outcomes", __version__),
        ("python", platform.python_version()),
    ]
    for pkg in ("numpy", "pandas", "scipy", "statsmodels", "pandera", "plotnine", "matplotlib",
                "jinja2", "rtflite"):  # fmt: skip
        try:
            rows.append((pkg, _v(pkg)))
        except PackageNotFoundError:  # pragma: no cover - optional
            rows.append((pkg, "not installed"))
    rows.append(("seed", seed or "not a generated data set"))
    for label, path in inputs.items():
        if path is not None and Path(path).exists():
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            rows.append((f"sha256 of {label} ({_shown(Path(path))})", digest))
    rows.append(("git commit", commit))
    rows.append(("time to build (s)", f"{time.perf_counter() - started:.1f}"))
    return pd.DataFrame(rows, columns=["key", "value"])


def run(args) -> int:
    from ..report import build_figures, build_html, build_tables
    from ..report.html import read_provenance, read_tables
    from ..report.tables import load_published

    t0 = time.perf_counter()
    formats = list(dict.fromkeys(getattr(args, "formats", None) or ["html"]))
    data = Path(args.data) if args.data else PROJECT_DATA
    if args.design is None and args.data is None and PROJECT_DESIGN.exists():
        args.design = str(PROJECT_DESIGN)
    if not data.exists() and args.data is None:
        raise IptOutcomesError(
            f"{data}: not found; run `make data` (or `ipt-outcomes simulate --out {data}`)"
        )
    if "pdf" in formats:
        from ..report.pdf import find_chromium

        if not find_chromium():
            raise IptOutcomesError(
                "--formats pdf needs Chromium to print the report (Debian: apt-get install "
                "chromium; or set IPT_CHROMIUM to a Chrome or Chromium executable)"
            )
    OutputFolder(args.out, inputs_of(args, data)).check()  # a wrong --out is said before the work
    trial = load(args, data)
    pub_path = trial.design.published
    published = load_published(pub_path) if pub_path else None
    tables = build_tables(trial, published=published)
    with OutputFolder(args.out, inputs_of(args, data, pub_path)) as out:
        out.write_tables(tables, "tables")
        tables_dir, figures_dir = out.stage / "tables", out.stage / "figures"
        written = read_tables(tables_dir)  # figures and HTML read what the tables stage wrote
        build_figures(written, trial.scores, figures_dir, svg="svg" in formats)
        inputs = {"data": data, "design": args.design, "published figures": pub_path}
        prov = provenance(inputs, _seed_of(data), t0)
        out.write_table("provenance", prov)  # the one writer: guarded as every table
        prov_path = out.stage / "provenance.csv"
        html_path = out.path("report.html")
        build_html(tables_dir, figures_dir, prov_path, html_path)
        if "rtf" in formats:
            from ..report.rtf import build_rtf

            written["provenance"] = read_provenance(prov_path)
            build_rtf(written, out.stage / "rtf")
        if "pdf" in formats:
            from ..report.pdf import print_pdf

            print_pdf(html_path, out.path("report.pdf"))
    print(
        f"Wrote {Path(args.out) / 'report.html'}"
        + "".join(f", {f}" for f in formats if f != "html")
        + f" ({time.perf_counter() - t0:.1f} s)",
        file=sys.stderr,
    )
    return 0
