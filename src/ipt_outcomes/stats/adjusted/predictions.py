"""Step 2, counterfactual predictions: every analysed subject's predicted risk with the subject
put in each arm in turn, from the working model's design rebuilt for that arm."""

from __future__ import annotations

from .working_model import _expit


def predict_counterfactuals(design, beta, frame, arm: str, arms) -> tuple[list, list]:
    """The design matrix of ``frame`` with everyone in each of ``arms``, and the predicted
    risks under it: ``(matrices, predictions)``, one of each per arm."""
    Xk = design.counterfactuals(frame, arm, arms)
    return Xk, [_expit(Xa @ beta) for Xa in Xk]
