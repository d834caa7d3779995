"""The report's side-by-side stages run on the package's one runner: see
:class:`ipt_outcomes.runtime.Background` (a forked child computing while the caller goes on)."""

from __future__ import annotations

from ..runtime.background import Background

__all__ = ["Background"]
