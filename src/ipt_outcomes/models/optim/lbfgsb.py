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

Every problem is iterated in lock-step: :func:`minimize_batch` evaluates the pending points of
all problems in one vectorised call, and each step (the safeguarded step ``dcstep``, the line
search ``dcsrch``, the two-loop direction) is computed for all problems at once. Its agreement
with scipy's L-BFGS-B under R's settings is a test
(``tests/test_estimands_rules.py``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["minimize_batch"]

_EPS = float(np.finfo(float).eps)


def _dcstep_v(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """MINPACK-2's ``dcstep`` (a safeguarded step and the updated interval) for arrays: each
    case computed everywhere, then selected."""
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
    """MINPACK-2's ``dcsrch`` line-search state for every problem (``ftol = 1e-3, gtol = 0.9,
    xtol = 0.1``, ``stpmin = 0``, ``stpmax = 1e10``)."""

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
    """The L-BFGS two-loop direction ``-H g`` for many problems (grouped by the number of
    stored pairs)."""
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
    """L-BFGS-B with R's settings from every row of ``X0``, vectorised over the problems.

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
