"""The reproducible trial report: tables -> figures -> one self-contained HTML file.

Three stages, each reading only what the previous one wrote, so that every number in the HTML
comes from a generated table:

1. :func:`~ipt_outcomes.report.tables.build_tables` - data -> ``tables/*.csv``;
2. :func:`~ipt_outcomes.report.figures.build_figures` - tables -> ``figures/*.png`` and ``.svg``;
3. :func:`~ipt_outcomes.report.html.build_html` - tables and figures -> ``report.html``.
"""

from .figures import build_figures
from .html import build_html
from .tables import build_tables

__all__ = ["build_tables", "build_figures", "build_html"]
