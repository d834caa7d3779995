"""The models' workshop (models/optim): numeric derivatives against analytic ones. (The batched
L-BFGS-B's agreement with scipy's under R's settings is
``tests/test_estimands_rules.py::test_batched_lbfgsb_follows_scipy_lbfgsb_with_r_optim_settings``.)"""

from __future__ import annotations

import numpy as np

from ipt_outcomes.models.optim import central_jacobian, numeric_hessian


def test_numeric_derivatives_of_a_known_function():
    def f(x):
        return np.array([np.sin(x[0]) * x[1], x[0] ** 3 + np.exp(x[1])])

    x = np.array([0.7, -0.4])
    J = central_jacobian(f, x)
    exact = np.array([[np.cos(x[0]) * x[1], np.sin(x[0])], [3 * x[0] ** 2, np.exp(x[1])]])
    np.testing.assert_allclose(J, exact, rtol=1e-8)

    def grad(v):  # of v0^2 v1 + v1^3
        return np.array([2 * v[0] * v[1], v[0] ** 2 + 3 * v[1] ** 2])

    H = numeric_hessian(grad, x)
    np.testing.assert_allclose(H, [[2 * x[1], 2 * x[0]], [2 * x[0], 6 * x[1]]], atol=1e-9)
    np.testing.assert_allclose(numeric_hessian(grad, x, free=[1]), [[6 * x[1]]], atol=1e-9)
