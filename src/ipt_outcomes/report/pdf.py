"""The whole report as PDF: the HTML printed by headless Chromium.

The page's print styles (``templates/report.css``, from the one page set-up of :mod:`~.page`)
set the paper (A4 landscape by default, US Letter by ``report --paper letter``) and the margins,
and draw the running header (the study's name; "SYNTHETIC DATA" for generated data) and the
footer (program, version, run date, "Page x of y") in the page margins with CSS paged media
(``@page`` margin boxes and the ``page`` and ``pages`` counters, which Chromium prints since
version 131). Each table, figure and listing starts a page, with its section or group heading;
column headers repeat on every page of a long table; footnotes stay with the last rows of their
table. Chromium's own header and footer (date, file name) are switched off. It runs headless,
without sandbox, GPU, network services or a user profile (a temporary one is removed
afterwards); the HTML is self-contained, so nothing is fetched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..exceptions import IptOutcomesError
from ..output import staged_file

__all__ = ["find_chromium", "print_pdf", "CHROMIUM_NAMES"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)


def find_chromium() -> str | None:
    """Path of the Chromium to print with: ``$IPT_CHROMIUM``, else the first on the PATH."""
    env = os.environ.get("IPT_CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def print_pdf(html_path, pdf_path, *, chromium: str | None = None, timeout: float = 180) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (whole or not at all).

    Raises
    ------
    IptOutcomesError
        Chromium is not installed, fails or times out.
    """
    chromium = chromium or find_chromium()
    if not chromium:
        raise IptOutcomesError(
            "--formats pdf needs Chromium to print the report (Debian: apt-get install "
            "chromium; or set IPT_CHROMIUM to a Chrome or Chromium executable)"
        )
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path)
    with (
        staged_file(pdf_path) as staged,
        tempfile.TemporaryDirectory(prefix="ipt-outcomes-chromium-") as profile,
    ):
        tmp = staged.resolve()
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}",
               html_path.as_uri()]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise IptOutcomesError(f"Chromium could not print the report to PDF: {exc}") from None
        if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise IptOutcomesError(
                f"Chromium could not print the report to PDF (exit {proc.returncode}): {last[0]}"
            )
    return pdf_path
