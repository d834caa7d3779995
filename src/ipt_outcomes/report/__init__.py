"""The reproducible trial report: tables -> figures -> HTML (and RTF tables, a PDF).

Three stages, each reading only what the previous one wrote, so that every number in the
outputs comes from a generated table:

1. :func:`~ipt_outcomes.report.tables.build_tables` - data -> ``tables/*.csv``, including the
   catalogue of tables, figures and listings (:mod:`~ipt_outcomes.report.tlf`);
2. :func:`~ipt_outcomes.report.figures.build_figures` - tables -> ``figures/*.png`` and ``.svg``;
3. :func:`~ipt_outcomes.report.html.build_html` - tables and figures -> ``report.html`` (jinja2
   templates in ``templates/``); :func:`~ipt_outcomes.report.rtf.build_rtf` - each table as RTF;
   :func:`~ipt_outcomes.report.pdf.print_pdf` - the HTML printed to PDF by headless Chromium.
"""

from .figures import build_figures
from .html import build_html
from .pdf import print_pdf
from .rtf import build_rtf
from .tables import build_tables

__all__ = ["build_tables", "build_figures", "build_html", "build_rtf", "print_pdf"]
