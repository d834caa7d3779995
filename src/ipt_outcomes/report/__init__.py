"""The reproducible trial report: renders what the analysis plan found (``ipt_outcomes.plan``).

The report computes nothing: :func:`ipt_outcomes.plan.run_plan` runs the analyses and
:func:`ipt_outcomes.plan.tables.report_tables` lays them out as tables; here

1. :func:`~ipt_outcomes.report.tlf.catalogue` lists the tables, figures and listings in the plan's
   order, numbered as ICH E3 section 14;
2. :func:`~ipt_outcomes.report.figures.build_figures` draws the figures from the tables;
3. :func:`~ipt_outcomes.report.html.build_html` writes ``report.html`` (jinja2 templates in
   ``templates/``; each figure with alternative text from :mod:`~ipt_outcomes.report.alt`);
   :func:`~ipt_outcomes.report.rtf.build_rtf` each table as RTF;
   :func:`~ipt_outcomes.report.pdf.print_pdf` the HTML printed to PDF by headless Chromium.

RTF and PDF share one page set-up and one set of page furniture (:mod:`~ipt_outcomes.report.page`):
paper, margins, the running header (with "SYNTHETIC DATA" when the data were generated) and the
footer with "Page x of y".
"""

from .figures import build_figures
from .html import build_html
from .pdf import print_pdf
from .rtf import build_rtf
from .tlf import catalogue

__all__ = ["catalogue", "build_figures", "build_html", "build_rtf", "print_pdf"]
