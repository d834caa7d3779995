"""L-BFGS-B without bounds, as R's ``optim(method = "L-BFGS-B")`` runs it, for many problems at once.

R mmrm fits by ``optim`` L-BFGS-B with its defaults (memory 5, ``factr = 1e7``, ``pgtol = 0``,
``maxit = 100``) from fixed starting values, and stops when the objective's relative reduction
falls below ``factr * .Machine$double.eps``: about 1e-5 short of the optimum in the estimates.
To give R's numbers (rbmi refits the model for every jackknife or bootstrap sample) this module
follows the same algorithm: for an unbounded problem L-BFGS-B's direction is the L-BFGS direction
``-H g`` (the Cauchy point and subspace minimisation reduce to it), the first step is
``1 / ||g||`` along ``-g``, the line search is MINPACK-2's ``dcsrch`` (More & Thuente 1994) with
``ftol = 1e-3``, ``gtol = 0.9``, ``xtol = 0.1``, a pair is stored only when ``s'y > eps * (-g's)``,
and after a failed line search the memory is dropped (Byrd, Lu, Nocedal & Zhu 1995; Zhu, Byrd,
Lu & Nocedal 1997, the code R and scipy use).

Each problem runs as a generator that yields the points it needs; :func:`minimize_many` evaluates
every pending point of all problems in one vectorised call.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["minimize_many", "lbfgsb"]

_EPS = float(np.finfo(float).eps)


def _dcstep(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """MINPACK-2 ``dcstep``: a safeguarded step and the updated interval."""
    sgnd = math.copysign(1.0, dp) * math.copysign(1.0, dx) if dp and dx else 0.0
    if fp > fx:
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * math.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
        if stp < stx:
            gamma = -gamma
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        r = p / q
        stpc = stx + r * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if abs(stpc - stx) <= abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        brackt = True
    elif sgnd < 0.0:
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * math.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dx
        r = p / q
        stpc = stp + r * (stx - stp)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
        brackt = True
    elif abs(dp) < abs(dx):
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * math.sqrt(max(0.0, (theta / s) ** 2 - (dx / s) * (dp / s)))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        if r < 0 and gamma != 0:
            stpc = stp + r * (stx - stp)
        elif stp > stx:
            stpc = stpmax
        else:
            stpc = stpmin
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            stpf = stpc if abs(stpc - stp) < abs(stpq - stp) else stpq
            if stp > stx:
                stpf = min(stp + 0.66 * (sty - stp), stpf)
            else:
                stpf = max(stp + 0.66 * (sty - stp), stpf)
        else:
            stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
            stpf = min(max(stpf, stpmin), stpmax)
    else:
        if brackt:
            theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
            s = max(abs(theta), abs(dy), abs(dp))
            gamma = s * math.sqrt((theta / s) ** 2 - (dy / s) * (dp / s))
            if stp > sty:
                gamma = -gamma
            p = (gamma - dp) + theta
            q = ((gamma - dp) + gamma) + dy
            r = p / q
            stpf = stp + r * (sty - stp)
        elif stp > stx:
            stpf = stpmax
        else:
            stpf = stpmin
    if fp > fx:
        sty, fy, dy = stp, fp, dp
    else:
        if sgnd < 0:
            sty, fy, dy = stx, fx, dx
        stx, fx, dx = stp, fp, dp
    return stx, fx, dx, sty, fy, dy, stpf, brackt


class _Dcsrch:
    """MINPACK-2 ``dcsrch`` (line search for sufficient decrease and curvature)."""

    def __init__(self, ftol=1e-3, gtol=0.9, xtol=0.1, stpmin=0.0, stpmax=1e10):
        self.ftol, self.gtol, self.xtol = ftol, gtol, xtol
        self.stpmin, self.stpmax = stpmin, stpmax

    def start(self, stp, f, g) -> tuple[float, str]:
        if stp < self.stpmin or stp > self.stpmax or g >= 0:
            return stp, "ERROR"
        self.brackt = False
        self.stage = 1
        self.finit, self.ginit = f, g
        self.gtest = self.ftol * g
        self.width = self.stpmax - self.stpmin
        self.width1 = self.width / 0.5
        self.stx, self.fx, self.gx = 0.0, f, g
        self.sty, self.fy, self.gy = 0.0, f, g
        self.stmin = 0.0
        self.stmax = stp + 4.0 * stp
        return stp, "FG"

    def step(self, stp, f, g) -> tuple[float, str]:
        ftest = self.finit + stp * self.gtest
        if self.stage == 1 and f <= ftest and g >= 0:
            self.stage = 2
        task = "FG"
        if self.brackt and (stp <= self.stmin or stp >= self.stmax):
            task = "WARNING: ROUNDING ERRORS PREVENT PROGRESS"
        if self.brackt and self.stmax - self.stmin <= self.xtol * self.stmax:
            task = "WARNING: XTOL TEST SATISFIED"
        if stp == self.stpmax and f <= ftest and g <= self.gtest:
            task = "WARNING: STP = STPMAX"
        if stp == self.stpmin and (f > ftest or g >= self.gtest):
            task = "WARNING: STP = STPMIN"
        if f <= ftest and abs(g) <= self.gtol * (-self.ginit):
            task = "CONVERGENCE"
        if task != "FG":
            return stp, task
        if self.stage == 1 and f <= self.fx and f > ftest:
            gt = self.gtest
            out = _dcstep(self.stx, self.fx - self.stx * gt, self.gx - gt,
                          self.sty, self.fy - self.sty * gt, self.gy - gt,
                          stp, f - stp * gt, g - gt, self.brackt, self.stmin, self.stmax)  # fmt: skip
            self.stx, fxm, gxm, self.sty, fym, gym, stp, self.brackt = out
            self.fx, self.fy = fxm + self.stx * gt, fym + self.sty * gt
            self.gx, self.gy = gxm + gt, gym + gt
        else:
            out = _dcstep(self.stx, self.fx, self.gx, self.sty, self.fy, self.gy,
                          stp, f, g, self.brackt, self.stmin, self.stmax)  # fmt: skip
            self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp, self.brackt = out
        if self.brackt:
            if abs(self.sty - self.stx) >= 0.66 * self.width1:
                stp = self.stx + 0.5 * (self.sty - self.stx)
            self.width1 = self.width
            self.width = abs(self.sty - self.stx)
            self.stmin = min(self.stx, self.sty)
            self.stmax = max(self.stx, self.sty)
        else:
            self.stmin = stp + 1.1 * (stp - self.stx)
            self.stmax = stp + 4.0 * (stp - self.stx)
        stp = min(max(stp, self.stpmin), self.stpmax)
        if (self.brackt and (stp <= self.stmin or stp >= self.stmax)) or (
            self.brackt and self.stmax - self.stmin <= self.xtol * self.stmax
        ):
            stp = self.stx
        return stp, "FG"


def _direction(g, S, Y, theta):
    """``-H g`` for the L-BFGS matrix of the stored pairs with ``H0 = I / theta``, in the compact
    form L-BFGS-B uses (Byrd, Nocedal & Schnabel 1994): with ``R`` the upper triangle of
    ``S'Y``, ``D`` its diagonal and ``gamma = 1 / theta``,
    ``H g = gamma g + S R^-T ((D + gamma Y'Y) R^-1 S'g - gamma Y'g) - gamma Y R^-1 S'g``."""
    if S is None:
        return -g / theta
    gamma = 1.0 / theta
    a = S @ g
    b = gamma * (Y @ g)
    SY = S @ Y.T
    R = np.triu(SY)
    p2 = _solve_upper(R, a)
    mid = (np.diag(np.diag(SY)) + gamma * (Y @ Y.T)) @ p2 - b
    p1 = _solve_upper(R.T, mid, lower=True)
    return -(gamma * g + p1 @ S - gamma * (p2 @ Y))


def _solve_upper(R, v, lower=False):
    """Solve a small triangular system by substitution (no LAPACK call overhead)."""
    n = len(v)
    x = np.empty(n)
    if lower:
        for i in range(n):
            x[i] = (v[i] - R[i, :i] @ x[:i]) / R[i, i]
    else:
        for i in range(n - 1, -1, -1):
            x[i] = (v[i] - R[i, i + 1 :] @ x[i + 1 :]) / R[i, i]
    return x


def _sup(g) -> float:
    return float(max(g.max(), -g.min()))


def lbfgsb(x0, m: int = 5, factr: float = 1e7, pgtol: float = 0.0, maxit: int = 100):
    """Generator: yields points ``x`` and receives ``(f, g)`` for each; returns
    ``(x, f, g, converged, message)``. The algorithm of R ``optim(method = "L-BFGS-B")``
    without bounds (see the module notes)."""
    tol = factr * _EPS
    x = np.array(x0, float)
    f, g = yield x
    if not math.isfinite(f):
        return x, f, g, False, "non-finite value at the start"
    if _sup(g) <= pgtol:
        return x, f, g, True, "projected gradient"
    S: list = []
    Y: list = []
    S2 = Y2 = None
    theta = 1.0
    it = 0
    while True:
        d = _direction(g, S2, Y2, theta)
        # line search (lnsrlb)
        dnorm = math.sqrt(float(d @ d))
        stp = min(1.0 / dnorm, 1e10) if it == 0 else 1.0
        t, r, fold = x.copy(), g.copy(), f
        gd = float(g @ d)
        gdold = gd
        failed = gd >= 0
        if not failed:
            ls = _Dcsrch()
            stp, task = ls.start(stp, f, gd)
            ifun = 0
            while task == "FG":
                ifun += 1
                if ifun - 1 >= 20:
                    failed = True
                    break
                x = t + d if stp == 1.0 else stp * d + t
                f, g = yield x
                if not math.isfinite(f):
                    failed = True
                    break
                gd = float(g @ d)
                stp, task = ls.step(stp, f, gd)
            if task == "ERROR":
                failed = True
        if failed:
            x, g, f = t, r, fold
            if not S:
                return x, f, g, False, "abnormal termination in line search"
            S, Y, S2, Y2, theta = [], [], None, None, 1.0
            continue
        it += 1
        if _sup(g) <= pgtol:
            return x, f, g, True, "projected gradient"
        if fold - f <= tol * max(abs(fold), abs(f), 1.0):
            return x, f, g, True, "relative reduction of f <= factr * epsmch"
        if it >= maxit:
            return x, f, g, False, "iteration limit"
        y = g - r
        if stp == 1.0:
            dr, ddum, s = gd - gdold, -gdold, d
        else:
            dr, ddum, s = (gd - gdold) * stp, -gdold * stp, stp * d
        if dr <= _EPS * ddum:
            continue  # curvature condition fails: the pair is not stored
        S.append(s)
        Y.append(y)
        if len(S) > m:
            S.pop(0)
            Y.pop(0)
        S2, Y2 = np.array(S), np.array(Y)
        theta = float(y @ y) / dr


def minimize_many(evaluate, X0, **options):
    """Run :func:`lbfgsb` from every row of ``X0`` at once.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(members, X) -> (f, G)`` for the problems ``members`` at the points ``X``
        (one row each): values ``(len,)`` and gradients ``(len, k)``.
    X0 : ndarray (B, k)
    **options
        Passed to :func:`lbfgsb` (``m``, ``factr``, ``pgtol``, ``maxit``).

    Returns
    -------
    list of tuple
        ``(x, f, g, converged, message)`` per problem.
    """
    X0 = np.asarray(X0, float)
    gens = [lbfgsb(x, **options) for x in X0]
    pending = {i: next(gen) for i, gen in enumerate(gens)}
    out: list = [None] * len(gens)
    while pending:
        members = np.array(sorted(pending))
        f, G = evaluate(members, np.stack([pending[i] for i in members]))
        nxt = {}
        for j, i in enumerate(members):
            try:
                nxt[i] = gens[i].send((float(f[j]), np.array(G[j], float)))
            except StopIteration as stop:
                out[i] = stop.value
        pending = nxt
    return out


# ------------------------------------------------------------------------------------------
# the same algorithm vectorised over problems: every array has the problems on its first axis
# ------------------------------------------------------------------------------------------


def _dcstep_v(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """:func:`_dcstep` for arrays (each case computed everywhere, then selected)."""
    sgnd = np.sign(dp) * np.sign(dx)
    c1 = fp > fx
    c2 = ~c1 & (sgnd < 0)
    c3 = ~c1 & ~c2 & (np.abs(dp) < np.abs(dx))
    c4 = ~c1 & ~c2 & ~c3
    with np.errstate(all="ignore"):
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = np.maximum(np.maximum(np.abs(theta), np.abs(dx)), np.abs(dp))
        # case 1
        gamma = s * np.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
        gamma1 = np.where(stp < stx, -gamma, gamma)
        p = (gamma1 - dx) + theta
        q = ((gamma1 - dx) + gamma1) + dp
        stpc = stx + (p / q) * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        f1 = np.where(np.abs(stpc - stx) <= np.abs(stpq - stx), stpc, stpc + (stpq - stpc) / 2.0)
        # case 2
        gamma2 = np.where(stp > stx, -gamma, gamma)
        p = (gamma2 - dp) + theta
        q = ((gamma2 - dp) + gamma2) + dx
        stpc = stp + (p / q) * (stx - stp)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        f2 = np.where(np.abs(stpc - stp) > np.abs(stpq - stp), stpc, stpq)
        # case 3
        gamma3 = s * np.sqrt(np.maximum(0.0, (theta / s) ** 2 - (dx / s) * (dp / s)))
        gamma3 = np.where(stp > stx, -gamma3, gamma3)
        p = (gamma3 - dp) + theta
        q = (gamma3 + (dx - dp)) + gamma3
        r = p / q
        stpc = np.where((r < 0) & (gamma3 != 0), stp + r * (stx - stp),
                        np.where(stp > stx, stpmax, stpmin))  # fmt: skip
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        fb = np.where(np.abs(stpc - stp) < np.abs(stpq - stp), stpc, stpq)
        fb = np.where(stp > stx, np.minimum(stp + 0.66 * (sty - stp), fb),
                      np.maximum(stp + 0.66 * (sty - stp), fb))  # fmt: skip
        fu = np.where(np.abs(stpc - stp) > np.abs(stpq - stp), stpc, stpq)
        fu = np.minimum(np.maximum(fu, stpmin), stpmax)
        f3 = np.where(brackt, fb, fu)
        # case 4
        theta4 = 3.0 * (fp - fy) / (sty - stp) + dy + dp
        s4 = np.maximum(np.maximum(np.abs(theta4), np.abs(dy)), np.abs(dp))
        gamma4 = s4 * np.sqrt((theta4 / s4) ** 2 - (dy / s4) * (dp / s4))
        gamma4 = np.where(stp > sty, -gamma4, gamma4)
        p = (gamma4 - dp) + theta4
        q = ((gamma4 - dp) + gamma4) + dy
        f4 = np.where(brackt, stp + (p / q) * (sty - stp), np.where(stp > stx, stpmax, stpmin))
    stpf = np.select([c1, c2, c3, c4], [f1, f2, f3, f4])
    brackt = brackt | c1 | c2
    swap = ~c1 & (sgnd < 0)
    sty_n = np.where(c1, stp, np.where(swap, stx, sty))
    fy_n = np.where(c1, fp, np.where(swap, fx, fy))
    dy_n = np.where(c1, dp, np.where(swap, dx, dy))
    stx_n = np.where(c1, stx, stp)
    fx_n = np.where(c1, fx, fp)
    dx_n = np.where(c1, dx, dp)
    return stx_n, fx_n, dx_n, sty_n, fy_n, dy_n, stpf, brackt


class _LineSearches:
    """:class:`_Dcsrch` state for every problem (``ftol = 1e-3, gtol = 0.9, xtol = 0.1``,
    ``stpmin = 0``, ``stpmax = 1e10``)."""

    FG, CONV, WARN = 0, 1, 2

    def __init__(self, B: int):
        z = np.zeros(B)
        self.brackt = np.zeros(B, bool)
        self.stage = np.ones(B, int)
        for name in ("finit", "ginit", "gtest", "width", "width1", "stx", "fx", "gx", "sty",
                     "fy", "gy", "stmin", "stmax"):  # fmt: skip
            setattr(self, name, z.copy())
        self.ftol, self.gtol, self.xtol, self.stpmin, self.stpmax = 1e-3, 0.9, 0.1, 0.0, 1e10

    def start(self, idx, stp, f, g):
        self.brackt[idx] = False
        self.stage[idx] = 1
        self.finit[idx], self.ginit[idx] = f, g
        self.gtest[idx] = self.ftol * g
        self.width[idx] = self.stpmax - self.stpmin
        self.width1[idx] = self.width[idx] / 0.5
        self.stx[idx], self.fx[idx], self.gx[idx] = 0.0, f, g
        self.sty[idx], self.fy[idx], self.gy[idx] = 0.0, f, g
        self.stmin[idx] = 0.0
        self.stmax[idx] = stp + 4.0 * stp

    def step(self, idx, stp, f, g):
        """New trial steps and the task (FG, CONV or WARN) of the problems ``idx``."""
        st = {n: getattr(self, n)[idx] for n in ("brackt", "stage", "finit", "ginit", "gtest",
              "width", "width1", "stx", "fx", "gx", "sty", "fy", "gy", "stmin", "stmax")}  # fmt: skip
        ftest = st["finit"] + stp * st["gtest"]
        stage = np.where((st["stage"] == 1) & (f <= ftest) & (g >= 0), 2, st["stage"])
        br = st["brackt"]
        warn = br & ((stp <= st["stmin"]) | (stp >= st["stmax"]))
        warn |= br & (st["stmax"] - st["stmin"] <= self.xtol * st["stmax"])
        warn |= (stp == self.stpmax) & (f <= ftest) & (g <= st["gtest"])
        warn |= (stp == self.stpmin) & ((f > ftest) | (g >= st["gtest"]))
        conv = (f <= ftest) & (np.abs(g) <= self.gtol * (-st["ginit"]))
        task = np.where(conv, self.CONV, np.where(warn, self.WARN, self.FG))
        go = task == self.FG
        gt = st["gtest"]
        mod = (stage == 1) & (f <= st["fx"]) & (f > ftest)
        # the modified function psi on stage 1, else f itself
        sx = st["stx"]
        sy = st["sty"]
        fxa = np.where(mod, st["fx"] - sx * gt, st["fx"])
        gxa = np.where(mod, st["gx"] - gt, st["gx"])
        fya = np.where(mod, st["fy"] - sy * gt, st["fy"])
        gya = np.where(mod, st["gy"] - gt, st["gy"])
        fpa = np.where(mod, f - stp * gt, f)
        gpa = np.where(mod, g - gt, g)
        stx, fx, gx, sty, fy, gy, new, brackt = _dcstep_v(
            sx, fxa, gxa, sy, fya, gya, stp, fpa, gpa, br, st["stmin"], st["stmax"])  # fmt: skip
        fx = np.where(mod, fx + stx * gt, fx)
        fy = np.where(mod, fy + sty * gt, fy)
        gx = np.where(mod, gx + gt, gx)
        gy = np.where(mod, gy + gt, gy)
        width, width1 = st["width"], st["width1"]
        half = brackt & (np.abs(sty - stx) >= 0.66 * width1)
        new = np.where(half, stx + 0.5 * (sty - stx), new)
        width1 = np.where(brackt, width, width1)
        width = np.where(brackt, np.abs(sty - stx), width)
        stmin = np.where(brackt, np.minimum(stx, sty), new + 1.1 * (new - stx))
        stmax = np.where(brackt, np.maximum(stx, sty), new + 4.0 * (new - stx))
        new = np.minimum(np.maximum(new, self.stpmin), self.stpmax)
        back = brackt & (((new <= stmin) | (new >= stmax)) | (stmax - stmin <= self.xtol * stmax))
        new = np.where(back, stx, new)
        # store the new state of the problems still searching
        sel = idx[go]
        for name, val in (("brackt", brackt), ("stage", stage), ("width", width),
                          ("width1", width1), ("stx", stx), ("fx", fx), ("gx", gx),
                          ("sty", sty), ("fy", fy), ("gy", gy), ("stmin", stmin),
                          ("stmax", stmax)):  # fmt: skip
            getattr(self, name)[sel] = val[go]
        return np.where(go, new, stp), task


def _directions(g, S, Y, ncol, theta):
    """:func:`_direction` for many problems (grouped by the number of stored pairs)."""
    d = np.empty_like(g)
    for c in np.unique(ncol):
        rows = np.flatnonzero(ncol == c)
        gg, th = g[rows], theta[rows]
        if c == 0:
            d[rows] = -gg / th[:, None]
            continue
        s, y = S[rows, :c], Y[rows, :c]
        gamma = 1.0 / th
        a = np.einsum("bck,bk->bc", s, gg)
        b = gamma[:, None] * np.einsum("bck,bk->bc", y, gg)
        SY = s @ y.transpose(0, 2, 1)
        R = np.triu(SY)
        p2 = np.linalg.solve(R, a[..., None])[..., 0]
        diag = np.einsum("bii->bi", SY)
        mid = diag * p2 + gamma[:, None] * np.einsum("bij,bj->bi", y @ y.transpose(0, 2, 1), p2) - b
        p1 = np.linalg.solve(R.transpose(0, 2, 1), mid[..., None])[..., 0]
        d[rows] = -(gamma[:, None] * gg + np.einsum("bc,bck->bk", p1, s)
                    - gamma[:, None] * np.einsum("bc,bck->bk", p2, y))  # fmt: skip
    return d


def minimize_batch(evaluate, X0, m: int = 5, factr: float = 1e7, pgtol: float = 0.0,
                   maxit: int = 100):  # fmt: skip
    """:func:`lbfgsb` from every row of ``X0``, vectorised over the problems.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(members, X) -> (f, G)`` for the problems ``members`` at the points ``X``.
    X0 : ndarray (B, k)
    m, factr, pgtol, maxit
        As R ``optim``'s ``lmm``, ``factr``, ``pgtol`` and ``maxit``.

    Returns
    -------
    x : ndarray (B, k)
    f : ndarray (B,)
    converged : ndarray of bool (B,)
    """
    X0 = np.asarray(X0, float)
    B, k = X0.shape
    tol = factr * _EPS
    x = X0.copy()
    everyone = np.arange(B)
    f, g = evaluate(everyone, x)
    f, g = np.array(f, float), np.array(g, float)
    running = np.isfinite(f)
    converged = np.zeros(B, bool)
    first = running & (np.max(np.abs(g), axis=1) <= pgtol)
    converged[first], running[first] = True, False
    S, Y = np.zeros((B, m, k)), np.zeros((B, m, k))
    ncol = np.zeros(B, int)
    theta = np.ones(B)
    it = np.zeros(B, int)
    d, t, r = np.zeros((B, k)), np.zeros((B, k)), np.zeros((B, k))
    fold, gdold, stp = np.zeros(B), np.zeros(B), np.zeros(B)
    ifun = np.zeros(B, int)
    need_dir = running.copy()
    ls = _LineSearches(B)

    def fail(idx):
        """A failed line search: back to its start; drop the memory, or stop if it was empty."""
        x[idx], g[idx], f[idx] = t[idx], r[idx], fold[idx]
        empty = ncol[idx] == 0
        running[idx[empty]] = False
        keep = idx[~empty]
        ncol[keep], theta[keep] = 0, 1.0
        need_dir[keep] = True

    def trial(idx):
        one = stp[idx] == 1.0
        x[idx] = np.where(one[:, None], t[idx] + d[idx], stp[idx, None] * d[idx] + t[idx])

    while running.any():
        idx = np.flatnonzero(need_dir & running)
        while len(idx):
            d[idx] = _directions(g[idx], S[idx], Y[idx], ncol[idx], theta[idx])
            dnorm = np.sqrt((d[idx] ** 2).sum(axis=1))
            stp[idx] = np.where(it[idx] == 0, np.minimum(1.0 / dnorm, 1e10), 1.0)
            t[idx], r[idx], fold[idx] = x[idx], g[idx], f[idx]
            gd = (g[idx] * d[idx]).sum(axis=1)
            gdold[idx] = gd
            need_dir[idx] = False
            bad = gd >= 0
            if bad.any():
                fail(idx[bad])
            idx = idx[~bad]
            ls.start(idx, stp[idx], f[idx], gdold[idx])
            ifun[idx] = 1
            trial(idx)
            idx = np.flatnonzero(need_dir & running)  # restarted after a failure
        idx = np.flatnonzero(running)
        if not len(idx):
            break
        fi, gi = evaluate(idx, x[idx])
        f[idx], g[idx] = fi, gi
        nonfinite = ~np.isfinite(f[idx])
        if nonfinite.any():
            fail(idx[nonfinite])
            idx = idx[~nonfinite]
        gd = (g[idx] * d[idx]).sum(axis=1)
        new, task = ls.step(idx, stp[idx], f[idx], gd)
        stp[idx] = new
        go = task == _LineSearches.FG
        more = idx[go]
        ifun[more] += 1
        over = more[ifun[more] - 1 >= 20]
        if len(over):
            fail(over)
        more = more[ifun[more] - 1 < 20]
        trial(more)
        done = idx[~go]
        if not len(done):
            continue
        gd_done = gd[~go]
        it[done] += 1
        small = np.max(np.abs(g[done]), axis=1) <= pgtol
        fo, fn = fold[done], f[done]
        reduced = fo - fn <= tol * np.maximum(np.maximum(np.abs(fo), np.abs(fn)), 1.0)
        stop = small | reduced
        converged[done[stop]] = True
        running[done[stop]] = False
        limit = ~stop & (it[done] >= maxit)
        running[done[limit]] = False
        go_on = ~stop & ~limit
        upd = done[go_on]
        gdn, gdo, sp = gd_done[go_on], gdold[upd], stp[upd]
        one = sp == 1.0
        dr = np.where(one, gdn - gdo, (gdn - gdo) * sp)
        ddum = np.where(one, -gdo, -gdo * sp)
        s_new = np.where(one[:, None], d[upd], sp[:, None] * d[upd])
        y_new = g[upd] - r[upd]
        store = dr > _EPS * ddum
        upd, s_new, y_new, dr = upd[store], s_new[store], y_new[store], dr[store]
        full = ncol[upd] == m
        if full.any():
            rows = upd[full]
            S[rows, :-1], Y[rows, :-1] = S[rows, 1:], Y[rows, 1:]
        pos = np.minimum(ncol[upd], m - 1)
        S[upd, pos], Y[upd, pos] = s_new, y_new
        ncol[upd] = np.minimum(ncol[upd] + 1, m)
        theta[upd] = (y_new**2).sum(axis=1) / dr
        need_dir[done[go_on]] = True
    return x, f, converged
