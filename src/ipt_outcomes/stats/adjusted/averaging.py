"""Step 3, averaging: the marginal (counterfactual) risk of each arm, the mean over every
analysed subject of the predicted risk with the subject put in that arm, and the result object."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class MarginalRisks:
    """Counterfactual marginal risks of every arm with their covariance (g-computation).

    Attributes
    ----------
    arms : tuple
        Arms of the working model (sorted), the order of ``risk`` and ``cov``.
    risk : numpy.ndarray
        Marginal risk of each arm: the mean over all analysed subjects of the predicted risk
        with the subject put in that arm. NaN when ``note`` says the model is not estimable.
    cov : numpy.ndarray
        Covariance matrix of ``risk`` (arms x arms) under ``variance``.
    variance : str
        ``"ge"``, ``"ye"`` or ``"model"``.
    strata : tuple
        Strata columns used by Ye's stratified variance (empty otherwise).
    n : int
        Subjects in the model (complete cases of outcome, arm, covariates and strata).
    n_arm, events : dict
        Subjects and events per arm.
    n_excluded : int
        Rows dropped for a missing outcome, arm, covariate or stratum.
    converged : bool
        Whether the logistic fit converged (False also when it was not attempted).
    iterations : int
        Newton-Raphson iterations.
    coef : pandas.Series
        Coefficients of the working model on the original covariate scale (NaN if not fitted).
    note : str
        Empty when the risks are estimable; otherwise what happened (separation, no
        convergence, ...), and then ``risk`` and ``cov`` are NaN.
    arm_notes : dict
        Arms whose own risk is not estimable (no events, or every subject with the event: the
        arm separates the outcome), with why; their ``risk`` and ``cov`` entries are NaN while
        the other arms' are estimated.
    model_note : str
        How the working model was fitted when some arms separate (which arms it leaves out).
    """

    arms: tuple
    risk: np.ndarray
    cov: np.ndarray
    variance: str
    strata: tuple
    n: int
    n_arm: dict
    events: dict
    n_excluded: int
    converged: bool
    iterations: int
    coef: pd.Series = field(repr=False)
    note: str = ""
    arm_notes: dict = field(default_factory=dict)
    model_note: str = ""

    @property
    def estimable(self) -> bool:
        return not self.note

    def summary(self) -> pd.DataFrame:
        """One row per arm: ``arm, risk, se, n, events``."""
        return pd.DataFrame(
            {
                "arm": list(self.arms),
                "risk": self.risk,
                "se": np.sqrt(np.diag(self.cov)),
                "n": [self.n_arm[a] for a in self.arms],
                "events": [self.events[a] for a in self.arms],
            }
        )

    def cov_frame(self) -> pd.DataFrame:
        """``cov`` labelled by arm (rows and columns)."""
        labels = pd.Index(list(self.arms), name="arm")
        return pd.DataFrame(self.cov, index=labels, columns=labels.rename("arm2"))


def average_predictions(preds) -> np.ndarray:
    """The marginal risk of each arm: the mean of its counterfactual predictions."""
    return np.array([p.mean() for p in preds])
