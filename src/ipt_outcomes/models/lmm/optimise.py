"""Finding the global (RE)ML optimum over the relative covariance factor theta.

lme4 minimises the profiled deviance over theta with bounds on the Cholesky diagonal (bobyqa or
Nelder-Mead). Here the same function is minimised by trust-region Newton methods with its
analytic gradient and Hessian (:mod:`.deviance`), which see negative curvature and so cannot
stall on the saddle every fit has where a diagonal element is 0 (there the gradient in that
element vanishes whatever the data).

* **Local search**, two phases. (1) Newton in row-polar coordinates (:class:`RowPolar`: the
  length of each row of L_t - the relative SD of that effect - and its angles). A poorly
  determined correlation is a straight valley there (in theta it is a circle of constant row
  length, along which Newton's method crawls), and a Cholesky diagonal at 0 is an ordinary point
  (an angle at a multiple of pi). (2) Newton in theta itself, which finishes on the boundary:
  Lambda Lambda' is unchanged when a column of a Cholesky factor changes sign, so no bounds are
  needed. In both, a diagonal element approaching 0 is tried at exactly 0 and held there while
  that is no worse (an active set; at convergence it is released if the gradient or curvature
  says the optimum is inside). Trust regions are measured in the units of each effect (its SD in
  the data). The result is mapped back to non-negative diagonals.
* **Several starts**: a moment-based start (see ``_LMMModel.moment_start``), lme4's start
  (identity) and, when they disagree, scaled versions of the better one.
* **Boundary check**: when a diagonal element ends near 0, the optimum on that face (the element
  fixed at 0) is compared with it, and when it ends at 0, so is an interior optimum (a search
  restarted with the element away from 0); the best is kept, the face when it is as good to
  1e-8 in deviance. Only then is a fit called singular (lme4's ``isSingular``: a diagonal
  element below 1e-4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OptimResult", "trust_newton", "find_optimum"]

#: Deviance differences below this are numerical noise (the deviance is ~1e3-1e4 in size).
FACE_TOL = 1e-8
#: Converged when the Newton decrement g'H^-1 g (the deviance still to gain) is below this.
DECREMENT_TOL = 1e-9
#: A later search this close to an optimum already found (distance in SDs of the effects over
#: sigma, deviance above it) is in its basin and stops there.
JOIN_DISTANCE = 0.1
JOIN_DEVIANCE = 1.0


@dataclass
class OptimResult:
    theta: np.ndarray
    f: float
    converged: bool
    iterations: int
    evaluations: int = 0
    stopped: str = ""
    zero: list = field(default_factory=list)
    starts: list = field(default_factory=list)
    boundary_checked: list = field(default_factory=list)
    winner: str = ""


def _tr_step(w, V, gt, radius):
    """Solve min g'd + d'Hd/2 subject to |d| <= radius, H = V diag(w) V' (More-Sorensen:
    Newton's method on the secular equation 1/|d(mu)| = 1/radius, safeguarded by bisection)."""
    wmin = float(w.min())
    if wmin > 0:
        d = -gt / w
        if math.sqrt(float(d @ d)) <= radius:
            return V @ d
    lo = max(0.0, -wmin)
    # hard case: no gradient along the most negative direction
    at_min = w <= wmin + 1e-12 * max(1.0, abs(wmin))
    if wmin <= 0 and np.all(np.abs(gt[at_min]) <= 1e-12 * max(1.0, float(np.abs(gt).max()))):
        keep = ~at_min
        d = np.zeros_like(gt)
        d[keep] = -gt[keep] / (w[keep] + lo)
        rest = radius**2 - float(d @ d)
        if rest >= 0:
            d[int(np.flatnonzero(at_min)[0])] += math.sqrt(rest)
            return V @ d
    g2 = gt * gt
    hi = lo + math.sqrt(float(g2.sum())) / radius + 1e-12
    mu = hi
    for _ in range(100):
        den = w + mu
        n2 = float(np.sum(g2 / den**2))
        norm = math.sqrt(n2)
        if abs(norm - radius) <= 1e-6 * radius:
            break
        if norm > radius:
            lo = max(lo, mu)
        else:
            hi = min(hi, mu)
        dn = -float(np.sum(g2 / den**3)) / norm  # d|d|/dmu
        step = (1.0 / radius - 1.0 / norm) / (dn / n2) if dn != 0 else 0.0
        nxt = mu - step
        mu = nxt if lo < nxt < hi else 0.5 * (lo + hi)
        if hi - lo <= 1e-14 * max(1.0, hi):
            break
    return V @ (-gt / (w + mu))


def _stationary(g, H) -> bool:
    """A point where Newton's method cannot gain more than the rounding noise."""
    if len(g) == 0 or np.abs(g).max() < 1e-6:
        return True
    w, V = np.linalg.eigh(H)
    if w.min() <= 0:
        return False
    return float(np.sum((V.T @ g) ** 2 / w)) < 100 * DECREMENT_TOL


class _Face:
    """A diagonal element of a Cholesky factor and its face (the element at 0).

    In theta, element ``j`` is L_ii itself and ``off`` are the row's other elements; in the
    row-polar coordinates (:class:`RowPolar`), ``j`` is the row's last angle, ``rho`` the index
    of its length and ``angles`` all its angles (L_ii = rho * product of their sines), and the
    face is that angle at a multiple of pi.
    """

    def __init__(self, j, scale, off=(), rho=None, angles=()):
        self.j, self.scale, self.off = int(j), float(scale), list(off)
        self.rho, self.angles = rho, list(angles)

    def closeness(self, x) -> float:
        """< 1 near the face: the element tiny (|L_ii| scale < 0.02) or its row nearly all
        off-diagonal (|L_ii| / row length < 0.5: a correlation near +-1)."""
        if self.rho is None:
            xj = abs(x[self.j])
            row = math.hypot(xj, float(np.linalg.norm(x[self.off]))) if self.off else 0.0
        else:
            row = abs(x[self.rho])
            xj = row * abs(math.prod(math.sin(x[a]) for a in self.angles))
        return min(xj * self.scale / 0.02, xj / row / 0.5 if row > 0 else math.inf)

    def project(self, x):
        """x on the face, the row's length kept."""
        xz = x.copy()
        if self.rho is not None:
            xz[self.j] = round(x[self.j] / math.pi) * math.pi
            return xz
        xz[self.j] = 0.0
        if self.off:
            n_off = float(np.linalg.norm(x[self.off]))
            if n_off > 0:
                xz[self.off] = x[self.off] * (math.hypot(x[self.j], n_off) / n_off)
        return xz

    def release(self, x, g) -> None:
        """Move x off the face, downhill if the gradient says which way."""
        sign = -np.sign(g[self.j]) if abs(g[self.j]) > 1e-6 else 1.0
        if self.rho is None:
            x[self.j] = sign * 0.05 / self.scale
        else:
            x[self.j] += sign * min(0.5, 0.05 / (self.scale * max(abs(x[self.rho]), 1e-8)))


def trust_newton(
    fun,
    x0,
    fixed=(),
    faces=None,
    max_iter: int = 200,
    gtol: float = 1e-9,
    stop=None,
    stop_on_zero=None,
    max_infeasible: int | None = None,
    zero0=(),
    scaling=None,
) -> OptimResult:
    """Minimise with a trust-region Newton method.

    ``fun(x)`` returns an object with the value ``f`` and ``gh() -> (gradient, Hessian)``
    (computed only for the points kept).

    ``fixed``: indices held at their value in ``x0`` (optimisation on a given face).
    ``faces``: list of :class:`_Face` - a diagonal element approaching 0 is tried on its face,
    its row's length kept, and held there while that is no worse (an active set: near a
    boundary optimum Newton's method crawls, as the deviance is even in the element and often
    nearly flat along the row's direction); at convergence it is released if the gradient or
    the curvature in that element says the optimum is inside. ``zero0``: elements that start
    on their face. ``scaling``: typical size of each element's unit (the trust region is a
    ball in x * scaling). ``stop(x)``: return early when true after an accepted step;
    ``stop_on_zero``: return early once that element is put on its face; ``max_infeasible``:
    return after that many steps in a row where ``fun`` is infinite.
    Converged when the Hessian (free part) is positive definite and the Newton decrement
    g'H^-1 g or the largest gradient element is negligible.
    """
    x = np.array(x0, dtype=float)
    n = len(x)
    held = np.zeros(n, dtype=bool)
    held[list(int(i) for i in fixed)] = True
    zero = np.zeros(n, dtype=bool)
    zero[list(int(i) for i in zero0)] = True
    by_index = {face.j: face for face in faces or ()}
    tried: dict[int, float] = {}
    released: dict[int, int] = {}
    ev = fun(x)
    f = ev.f
    n_eval = 1
    converged = False
    stopped = ""
    it = 0
    infeasible = 0
    if not np.isfinite(f):
        return OptimResult(x, f, False, 0, n_eval, stopped="infeasible start")
    g, H = ev.gh()
    D = np.ones(n) if scaling is None else np.asarray(scaling, dtype=float)
    radius = max(1.0, float(np.linalg.norm((x * D)[~held]))) if n else 1.0
    while it < max_iter:
        it += 1
        free = ~(held | zero)
        Df = D[free]
        gf, Hf = g[free] / Df, H[np.ix_(free, free)] / np.outer(Df, Df)
        scale = max(1.0, float(np.abs(np.diag(H) / D**2).max())) if n else 1.0
        done = not free.any()
        if not done:
            w, V = np.linalg.eigh(Hf)
            gt = V.T @ gf
            if w.min() > 1e-10 * scale:
                done = float(np.sum(gt**2 / w)) < DECREMENT_TOL or np.abs(gf).max() < gtol
            else:  # a flat direction (e.g. a variance at 0 with an unidentified partner)
                done = np.abs(gf).max() < gtol and w.min() > -1e-8 * scale
        if done:
            # release an element held at 0 if the optimum is not on that face
            out = [
                int(j)
                for j in np.flatnonzero(zero)
                if released.get(int(j), 0) < 2 and (abs(g[j]) > 1e-6 or H[j, j] < -1e-8 * scale)
            ]
            if not out:
                converged = True
                break
            for j in out:
                zero[j] = False
                released[j] = released.get(j, 0) + 1
                by_index[j].release(x, g)
            ev = fun(x)
            f = ev.f
            g, H = ev.gh()
            n_eval += 1
            radius = max(radius, 0.1)
            continue
        d = _tr_step(w, V, gt, radius)
        dnorm = math.sqrt(float(d @ d))
        pred = -float(gf @ d + 0.5 * d @ Hf @ d)
        xn = x.copy()
        xn[free] += d / Df
        evn = fun(xn)
        fn = evn.f
        n_eval += 1
        if not np.isfinite(fn):
            infeasible += 1
            radius = 0.25 * dnorm
            if max_infeasible is not None and infeasible >= max_infeasible:
                stopped = "infeasible"
                break
            continue
        infeasible = 0
        actual = f - fn
        rho = actual / pred if pred > 0 else (1.0 if actual >= 0 else -1.0)
        if rho < 0.25:
            radius = 0.25 * dnorm
        elif rho > 0.75 and dnorm > 0.99 * radius:
            radius = 2.0 * radius
        if rho > 1e-4:
            x, f = xn, fn
            g, H = evn.gh()
            if 0 <= actual < 1e-13 * max(1.0, abs(f)) and pred < 1e-12:
                converged = _stationary(g[free] / Df, H[np.ix_(free, free)] / np.outer(Df, Df))
                break
            if stop is not None and stop(x, f):
                stopped = "stop"
                break
            if faces is not None:
                for face in faces:
                    j = face.j
                    if zero[j] or held[j] or released.get(j, 0) >= 2:
                        continue
                    a = face.closeness(x)
                    if a < 1.0 and a < 0.5 * tried.get(j, math.inf):
                        tried[j] = a
                        xz = face.project(x)
                        evz = fun(xz)
                        n_eval += 1
                        if np.isfinite(evz.f) and evz.f <= f + 1e-12 * max(1.0, abs(f)):
                            x, f = xz, evz.f
                            g, H = evz.gh()
                            zero[j] = True
                if stop_on_zero is not None and zero[stop_on_zero]:
                    stopped = "face"
                    break
        if radius < 1e-12:
            free = ~(held | zero)
            converged = _stationary(
                g[free] / D[free], H[np.ix_(free, free)] / np.outer(D[free], D[free])
            )
            break
    return OptimResult(
        x, f, converged, it, n_eval, stopped=stopped, zero=list(np.flatnonzero(zero))
    )


class RowPolar:
    """Theta with each row of each Cholesky factor in (hyper)spherical coordinates.

    Row i >= 1 of L_t, (L_i0, ..., L_ii), becomes its length rho (the relative SD of effect i)
    and i angles; rows of length one stay as they are. A poorly determined correlation is then
    a straight valley along an angle (in theta it is a circle of constant row length, along
    which Newton's method crawls), and a diagonal element at 0 is an ordinary point (an angle at
    a multiple of pi). Derivatives come from theta's by the chain rule; the map's own
    derivatives by complex steps (exact) and differences of them.
    """

    def __init__(self, layout):
        self.k = layout.k
        self.rows = [
            [int(i) for i in li[r, : r + 1]] for li in layout.lind for r in range(1, li.shape[0])
        ]

    def to_phi(self, theta):
        phi = np.array(theta, dtype=float)
        for idx in self.rows:
            u = np.asarray(theta, dtype=float)[idx]
            phi[idx[0]] = np.linalg.norm(u)
            for a in range(1, len(idx)):
                tail = np.linalg.norm(u[a:])
                phi[idx[a]] = (
                    math.atan2(tail, u[a - 1]) if a < len(idx) - 1 else math.atan2(u[a], u[a - 1])
                )
        return phi

    def to_theta(self, phi):
        theta = np.array(phi)
        for idx in self.rows:
            rho = phi[idx[0]]
            prod = rho
            for a in range(1, len(idx)):
                ang = phi[idx[a]]
                theta[idx[a - 1]] = prod * np.cos(ang)
                prod = prod * np.sin(ang)
            theta[idx[-1]] = prod
        return theta

    def jacobian(self, phi):
        h = 1e-30
        J = np.empty((self.k, self.k))
        for a in range(self.k):
            z = phi.astype(complex)
            z[a] += 1j * h
            J[:, a] = self.to_theta(z).imag / h
        return J

    def derivatives(self, phi):
        """Jacobian J (k x k) and second derivatives T[m, a, b] of theta(phi)."""
        if all(len(idx) == 2 for idx in self.rows):  # q = 2: (L_i0, L_i1) = rho (cos a, sin a)
            J = np.eye(self.k)
            T = np.zeros((self.k, self.k, self.k))
            for i0, i1 in self.rows:
                rho, ang = phi[i0], phi[i1]
                c, s_ = math.cos(ang), math.sin(ang)
                J[i0, i0], J[i0, i1], J[i1, i0], J[i1, i1] = c, -rho * s_, s_, rho * c
                T[i0, i0, i1] = T[i0, i1, i0] = -s_
                T[i0, i1, i1] = -rho * c
                T[i1, i0, i1] = T[i1, i1, i0] = c
                T[i1, i1, i1] = -rho * s_
            return J, T
        from ..optim.derivatives import central_jacobian

        J = self.jacobian(phi)
        T = np.zeros((self.k, self.k, self.k))
        moving = sorted({i for idx in self.rows for i in idx})
        if moving:
            T[:, :, moving] = central_jacobian(self.jacobian, phi, free=moving)
        return J, 0.5 * (T + np.swapaxes(T, 1, 2))


class _PolarEvaluation:
    """The deviance at theta(phi), with derivatives in phi by the chain rule when asked."""

    def __init__(self, ev, polar, phi):
        self.ev, self.polar, self.phi, self.f = ev, polar, phi, ev.f

    def gh(self):
        g, H = self.ev.gh()
        J, T = self.polar.derivatives(self.phi)
        return J.T @ g, J.T @ H @ J + np.einsum("m,mab->ab", g, T)


class Search:
    """Local searches on one model's profiled deviance (see the module notes)."""

    def __init__(self, model, scales):
        self.model = model
        self.layout = model.layout
        self.scales = np.asarray(scales, dtype=float)
        self.polar = RowPolar(self.layout)
        self.faces, self.polar_faces, self.row_scale = [], [], []
        # units: an element of row i of L is in the units of effect i (as is a row's length)
        self.D_theta = np.ones(self.layout.k)
        self.D_phi = np.ones(self.layout.k)
        for j, sc, off in self.layout.faces(self.scales):
            self.D_theta[[*off, j]] = sc
            self.D_phi[off[0] if off else j] = sc
        for j, sc, off in self.layout.faces(self.scales):
            self.faces.append(_Face(j, sc, off))
            if off:  # row i >= 1: its last angle, length at the row's first index
                row = [*off, j]
                self.polar_faces.append(_Face(j, sc, rho=row[0], angles=row[1:]))
                self.row_scale.append((row[0], sc))
            # (a first row's element is left to the theta phase: its face, a variance at 0
            # with the other effects' loadings free, is where lme4 itself gets stuck)
        self.n_eval = 0
        self.known: list[OptimResult] = []  # optima found so far (normalised theta)
        self._joined = None

    def joins(self, theta, f) -> bool:
        """The search has come within JOIN_DISTANCE (in SDs of the effects over sigma) of an
        optimum already found, and within JOIN_DEVIANCE of its deviance: it would end there,
        so it stops."""
        if not self.known:
            return False
        t = self.layout.normalise(theta)
        for r in self.known:
            if (
                f - r.f < JOIN_DEVIANCE
                and float(np.linalg.norm((t - r.theta) * self.D_theta)) < JOIN_DISTANCE
            ):
                self._joined = r
                return True
        return False

    def fun_theta(self, theta):
        self.n_eval += 1
        return self.model.fgh(theta)

    def fun_phi(self, phi):
        self.n_eval += 1
        return _PolarEvaluation(self.model.fgh(self.polar.to_theta(phi)), self.polar, phi)

    def row_vanishing(self, phi) -> bool:
        """A row's length (the relative SD of its effect) near 0: polar coordinates degenerate."""
        return any(abs(phi[i]) * sc < 0.02 for i, sc in self.row_scale)

    def local(self, theta0, fixed=(), stop_on_zero=None, join=False) -> OptimResult:
        """One local search from theta0 (``fixed`` elements held); with ``join``, it stops when
        it reaches an optimum already found (result ``stopped == "joined"``)."""
        theta0 = np.asarray(theta0, dtype=float)
        start, zero0 = theta0, ()
        self._joined = None
        if not len(fixed) and self.polar.rows:
            phi0 = self.polar.to_phi(theta0)
            if not self.row_vanishing(phi0):
                pol = trust_newton(
                    self.fun_phi,
                    phi0,
                    faces=self.polar_faces,
                    max_iter=100,
                    stop=lambda phi, f: (
                        self.row_vanishing(phi)
                        or (join and self.joins(self.polar.to_theta(phi), f))
                    ),
                    stop_on_zero=stop_on_zero,
                    scaling=self.D_phi,
                )
                if self._joined is not None:
                    return self._joined_result(pol)
                if np.isfinite(pol.f):
                    start = self.polar.to_theta(pol.theta)
                    start[pol.zero] = 0.0  # exactly on the faces found (sin(pi) is not 0)
                    zero0 = pol.zero
                    if pol.stopped == "face":
                        pol.theta = self.layout.normalise(start)
                        return pol
        r = trust_newton(
            self.fun_theta,
            start,
            fixed=fixed,
            faces=self.faces,
            stop_on_zero=stop_on_zero,
            zero0=zero0,
            scaling=self.D_theta,
            stop=self.joins if join else None,
        )
        if self._joined is not None:
            return self._joined_result(r)
        r.theta = self.layout.normalise(r.theta)
        if r.converged and not len(fixed):
            self.known.append(r)
        return r

    def _joined_result(self, r) -> OptimResult:
        k = self._joined
        return OptimResult(k.theta.copy(), k.f, k.converged, r.iterations, stopped="joined")


def find_optimum(model, starts, scales) -> OptimResult:
    """Multi-start local searches with the final boundary check.

    Parameters
    ----------
    model : _LMMModel
        Provides ``fgh(theta)`` (an evaluation with ``f`` and ``gh()``) and ``layout``.
    starts : list of (label, ndarray)
    scales : ndarray
        Typical size of each random-effect column (its SD in the data, 1 for an intercept):
        theta_jj * scale_j is the SD of that effect over the residual SD, free of units.
    """
    search = Search(model, scales)
    layout = search.layout
    diag = layout.diagonal
    results = []
    for i, (label, s) in enumerate(starts):
        results.append((label, search.local(s, join=i > 0)))
    best_label, best = min(results, key=lambda lr: lr[1].f)
    # the better start again from scaled versions when the starts disagree
    if len(results) > 1 and max(r.f for _, r in results) - best.f > 1e-6:
        for c in (0.3, 3.0):
            s = best.theta.copy()
            s[diag] = np.maximum(np.abs(s[diag]), 0.05) * c
            r = search.local(s, join=True)
            results.append((f"scaled x{c}", r))
            if r.f < best.f:
                best_label, best = f"scaled x{c}", r
    checked = []
    # boundary check: a diagonal element near 0 -> its face optimum against an interior optimum
    done: set[int] = set()
    while True:
        small = [
            int(j)
            for j, sc in zip(diag, search.scales, strict=True)
            if abs(best.theta[j]) * sc < 0.05 and int(j) not in done
        ]
        if not small:
            break
        j = small[0]
        done.add(j)
        s = best.theta.copy()
        s[j] = 0.0
        face = search.local(s, fixed=[j])
        back, inner = True, None
        if best.theta[j] == 0.0:  # on the face: is there a better optimum inside?
            s = best.theta.copy()
            s[j] = 0.2 / search.scales[list(diag).index(j)]
            inner = search.local(s, stop_on_zero=j, join=True)
            back = inner.stopped in ("face", "joined")  # went back to the face or to best
        cands = [face] + ([] if back else [inner])
        top = min([best, *cands], key=lambda r: r.f)
        checked.append(
            dict(
                parameter=layout.names()[j],
                deviance=best.f,
                deviance_face=face.f,
                deviance_interior=math.nan if back else inner.f,
            )
        )
        if face.f <= top.f + FACE_TOL:
            face.converged = face.converged or best.converged
            best, best_label = face, "boundary face"
        elif top is not best:
            best, best_label = top, "interior"
    best.evaluations = search.n_eval
    best.starts = [(lab, r.f) for lab, r in results]
    best.boundary_checked = checked
    best.winner = best_label
    return best
