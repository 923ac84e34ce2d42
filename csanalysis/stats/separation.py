"""(Quasi-)complete separation of a binary outcome by a design: when a logistic regression has no finite maximum
likelihood estimate, which coefficients are infinite and which rows are predicted perfectly.

The outcome ``y`` (0/1) is *separated* by the design ``X`` (rows × columns, the constant column included) when some
direction ``d ≠ 0`` has ``s_i (X d)_i ≥ 0`` for every row, with ``s_i = +1`` for an event and ``−1`` otherwise,
and ``> 0`` for at least one row (Albert & Anderson 1984; quasi-complete when some rows have ``(X d)_i = 0``).
Moving the coefficients along ``d`` then raises the likelihood without end: the Newton steps of a logistic fit
grow by about one unit each along ``d`` and never converge, and the errors become meaningless.

**Detection** is the linear programme of Konis (2007; R's ``safeBinaryRegression`` and ``detectseparation``):

    maximise 1ᵀ S X d  subject to  S X d ≥ 0,  −1 ≤ d_j ≤ 1,

which is 0 exactly when there is no separation. It is solved by constraint generation (a few hundred rows at a
time, every row checked after each solve: the answer is that of the full programme), then again on the rows not
yet separated until none is, so that every separating direction is found.

**The finite part.** Along a separating direction the separated rows' likelihood tends to 1; the supremum of the
likelihood is the maximum on the other rows (the *extended* maximum likelihood estimate: Clarkson & Jennrich 1991).
A coefficient with a zero component in every direction keeps a finite estimate, that of the fit on the rows not
separated with the coefficients restricted to the complement of the directions (:func:`estimable_basis`); a
coefficient with a non-zero component is **not estimable** (its odds ratio is 0 or infinite). Stata's ``logit``
does the same for a single indicator ("x != 0 predicts failure perfectly; x dropped and N obs not used").

**Cox regression: monotone likelihood** (:func:`find_cox_separation`). The partial likelihood of a Cox model has
no finite maximum when some direction ``d ≠ 0`` puts every event at the top of its risk set: at each event time,
the event's ``x·d`` is at least that of every spell still at risk, and above it for some pair (Bryson & Johnson
1981; Heinze & Schemper 2001). The programme is Konis's with the pairs (event i, spell j of i's risk set) as its
rows, ``(x_i − x_j)·d ≥ 0``; the pairs are never written out (an event time's risk set may hold most of the
rows): the objective Σ (x_i − x_j)·d is a sum over risk sets, taken over the cells of equal (stratum, entry,
duration), and the constraints are generated, each round adding per violated event the pair with the risk set's
largest ``x·d``. Along ``d`` the partial likelihood tends to that of the Cox model *stratified* by the value of
``x·d`` (an event's risk set keeps only the spells level with it; Efron's ties too): the programme is repeated
within those strata until no direction is left, and the finite part is the stratified fit in
:func:`estimable_basis` (spells in strata without an event drop out of it), less any direction in which that
stratified fit is flat (``CoxSeparation.basis``: dropping those spells can leave the others with a dependence the
full design did not have).

References: A. Albert and J. A. Anderson (1984), Biometrika 71(1) 1–10; K. Konis (2007), *Linear programming
algorithms for detecting separated data in binary logistic regression models*, DPhil thesis, Oxford;
C. E. Clarkson and R. I. Jennrich (1991), Journal of the American Statistical Association 86, 1–8;
S. P. Bryson and M. E. Johnson (1981), Journal of Statistical Computation and Simulation 13, 55–63;
G. Heinze and M. Schemper (2001), Biometrics 57, 114–119.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Separation", "find_separation", "estimable_basis", "CoxSeparation", "find_cox_separation"]


@dataclass(frozen=True)
class Separation:
    """What :func:`find_separation` found: ``directions`` (k × columns; no rows when the outcome is not separated),
    ``rows`` (boolean, the rows predicted perfectly along them) and ``infinite`` (boolean per column: a non-zero
    component in some direction, no finite estimate)."""

    directions: np.ndarray
    rows: np.ndarray
    infinite: np.ndarray

    @property
    def separated(self) -> bool:
        return bool(self.rows.any())


def find_separation(X: np.ndarray, y: np.ndarray, *, tol: float = 1e-6, batch: int = 500, seed: int = 0,
                    max_rounds: int = 200) -> Separation:
    """Every direction along which ``y`` is (quasi-)completely separated by ``X`` (module docstring: Konis's linear
    programme, solved by constraint generation).

    Parameters
    ----------
    X : rows × columns design, the constant column included; y : 0/1 outcomes.
    tol : a row is separated when ``s_i (X d)_i > tol`` (``d`` scaled to the box |d_j| ≤ 1); a component
        ``|d_j| > tol`` makes column ``j`` not estimable.
    batch : rows added to the programme per round (the most violated ones; the first round a seeded sample).
    seed : the first round's sample.
    max_rounds : a guard against a programme that does not settle (then an error, never a silent answer).

    Returns
    -------
    Separation
    """
    from scipy.optimize import linprog

    X = np.asarray(X, dtype=float)
    n, p = X.shape
    sign = np.where(np.asarray(y) == 1, 1.0, -1.0)
    left = np.ones(n, dtype=bool)  # rows not yet separated
    directions = []
    rng = np.random.default_rng(seed)
    while left.any():
        # the rows not yet separated, without a copy of X: S X d = sign · (X d), restricted to them
        w = np.where(left, sign, 0.0)
        obj = -(w @ X)
        act = rng.choice(np.flatnonzero(left), size=min(int(left.sum()), batch), replace=False)
        for _ in range(max_rounds):
            res = linprog(obj, A_ub=-(X[act] * w[act, None]), b_ub=np.zeros(len(act)), bounds=[(-1.0, 1.0)] * p,
                          method="highs")
            if res.status != 0:
                raise RuntimeError(f"the separation check's linear programme failed: {res.message}")
            s = w * (X @ res.x)  # 0 on the rows already separated
            bad = np.flatnonzero(s < -tol)
            if not len(bad):
                break
            act = np.union1d(act, bad[np.argsort(s[bad], kind="stable")[:batch]])
        else:
            raise RuntimeError(f"the separation check did not settle in {max_rounds} rounds")
        sep = s > tol
        if not sep.any():
            break
        directions.append(res.x)
        left &= ~sep
    D = np.array(directions).reshape(len(directions), p)
    return Separation(directions=D, rows=~left, infinite=(np.abs(D) > tol).any(axis=0))


def estimable_basis(directions: np.ndarray, p: int) -> np.ndarray:
    """An orthonormal basis (p × r) of the coefficients orthogonal to every separating direction: the fit on the
    rows not separated is made in it (``β = Q γ``), which leaves every estimable coefficient's estimate unchanged
    and fixes the others' arbitrary part at zero. The identity when there is no direction."""
    if not len(directions):
        return np.eye(p)
    u, sv, vt = np.linalg.svd(np.asarray(directions, dtype=float), full_matrices=True)
    rank = int((sv > 1e-10 * sv.max()).sum())
    return vt[rank:].T


# ------------------------------------------------------------------------------------------------ Cox regression


@dataclass(frozen=True)
class CoxSeparation:
    """What :func:`find_cox_separation` found: ``directions`` (k × columns; no rows when the partial likelihood has a
    finite maximum), ``strata`` (per row, its group of equal ``x·d`` along every direction: 0 everywhere without
    one), ``infinite`` (boolean per column: a non-zero component in some direction, no finite estimate), ``sign``
    (per column, +1 when its coefficient runs off to +∞ (hazard ratio → ∞), −1 to −∞ (→ 0), 0 when finite: the
    sign in the first direction with a non-zero component), ``rows`` (boolean: the rows in a stratum without an
    event, left out of the finite fit), ``basis`` (columns × r, orthonormal: the coefficients the finite fit is made
    in, ``β = basis γ``; the identity without a direction) and ``undetermined`` (boolean per column: not infinite,
    yet the finite fit does not determine it either).

    The basis is the complement of the directions *and* of every direction along which the stratified partial
    likelihood is flat: leaving out the strata without an event can leave the other rows with a dependence the full
    design did not have (e.g. every customer of a level left out, so that its column is 0 in the fit, or two
    levels that now always go together), and a fit in the complement of the directions alone would be singular.
    Such a flat direction is found from the information matrix at β = 0 of the stratified fit (its null space; the
    rank of a Cox information matrix is the same at every β). A column with a component in it that is not
    infinite is ``undetermined``: no estimate, never a silent zero."""

    directions: np.ndarray
    strata: np.ndarray
    infinite: np.ndarray
    sign: np.ndarray
    rows: np.ndarray
    basis: np.ndarray
    undetermined: np.ndarray

    @property
    def separated(self) -> bool:
        return bool(len(self.directions))


def _levels(v: np.ndarray, tol: float) -> np.ndarray:
    """Each value's group, values closer than ``tol`` to a neighbour in sorted order joined (0, 1, … upwards)."""
    order = np.argsort(v, kind="stable")
    step = np.r_[0, (np.diff(v[order]) > tol).cumsum()]
    out = np.empty(len(v), dtype=np.int64)
    out[order] = step
    return out


def _risk_cells(strata, cell, cell_entry, cell_T, E, T):
    """The (stratum, entry, duration) cells and, per (stratum, event time) with events, which cells are at risk
    (``entry < t ≤ T``, R's counting-process convention and lifelines'). Returns each row's cell, the units'
    at-risk matrix (units × cells, boolean), the event rows and each event row's unit. On monthly data both are
    small (a few thousand cells, a few hundred units at a million customers); continuous times with many distinct
    values would make the matrix events × rows."""
    key = strata * (cell.max() + 1) + cell
    g_key, g = np.unique(key, return_inverse=True)
    g_stratum, g_cell = g_key // (cell.max() + 1), g_key % (cell.max() + 1)
    ev = np.flatnonzero(E)
    u_key, u = np.unique(np.column_stack([strata[ev], T[ev]]), axis=0, return_inverse=True)
    at_risk = ((g_stratum[None, :] == u_key[:, :1]) & (cell_entry[g_cell][None, :] < u_key[:, 1:])
               & (cell_T[g_cell][None, :] >= u_key[:, 1:]))
    return g, at_risk, ev, u.ravel()


def _extremes(v, g, n_g, at_risk):
    """Per unit, the largest and smallest ``v`` over its risk set and the row holding the largest."""
    order = np.lexsort((v, g))  # by cell, then v: the last row of a cell holds its maximum, the first its minimum
    first = np.searchsorted(g[order], np.arange(n_g))
    last = np.r_[first[1:], len(v)] - 1
    hi_row, lo_row = order[last], order[first]
    vh = np.where(at_risk, v[hi_row][None, :], -np.inf)
    vl = np.where(at_risk, v[lo_row][None, :], np.inf)
    return vh.max(axis=1), vl.min(axis=1), hi_row[vh.argmax(axis=1)]


def find_cox_separation(X: np.ndarray, T: np.ndarray, E: np.ndarray, entry: np.ndarray | None = None, *,
                        tol: float = 1e-6, batch: int = 500, max_rounds: int = 200) -> CoxSeparation:
    """Every direction along which a Cox model's partial likelihood rises without end (monotone likelihood; module
    docstring), by the Cox form of Konis's programme solved by constraint generation.

    Parameters
    ----------
    X : rows × columns design (no constant column: the partial likelihood has none); T : durations; E : 1 for an
        event; entry : left-truncation times (a row is at risk at t when ``entry < t ≤ T``; None: every row from the
        start).
    tol : a pair (event i, row j at risk) is strict when ``(x_i − x_j)·d > tol`` (``d`` in the box |d_j| ≤ 1); a
        component ``|d_j| > tol`` makes column ``j`` not estimable, and so does a squared component above ``tol``
        along a direction in which the stratified fit is flat (``undetermined``).
    batch : constraints added per round (the events furthest below their risk set's maximum).
    max_rounds : a guard against a programme that does not settle (then an error, never a silent answer).

    Returns
    -------
    CoxSeparation
    """
    from scipy.optimize import linprog

    X = np.asarray(X, dtype=float)
    n, p = X.shape
    T = np.asarray(T, dtype=float)
    E = np.asarray(E).astype(bool)
    entry = np.full(n, -np.inf) if entry is None else np.asarray(entry, dtype=float)
    ce, cell = np.unique(np.column_stack([entry, T]), axis=0, return_inverse=True)
    cell = cell.ravel()
    strata = np.zeros(n, dtype=np.int64)
    directions = []
    while E.any():
        g, at_risk, ev, unit = _risk_cells(strata, cell, ce[:, 0], ce[:, 1], E, T)
        n_g = at_risk.shape[1]
        # Σ over events i and rows j of i's risk set of (x_i − x_j): per unit, (rows at risk) × Σ x_events −
        # (events) × Σ x_at risk, the sums taken per cell
        count = np.bincount(g, minlength=n_g).astype(float)
        xsum = np.zeros((n_g, p))
        np.add.at(xsum, g, X)
        u_ev = np.bincount(unit, minlength=len(at_risk)).astype(float)
        u_x = np.zeros((len(at_risk), p))
        np.add.at(u_x, unit, X[ev])
        c = ((at_risk @ count)[:, None] * u_x - u_ev[:, None] * (at_risk @ xsum)).sum(axis=0)
        scale = np.abs(c).max()
        if scale <= 0:
            break
        A = np.zeros((0, p))
        for _ in range(max_rounds):
            res = linprog(-c / scale, A_ub=A if len(A) else None, b_ub=np.zeros(len(A)) if len(A) else None,
                          bounds=[(-1.0, 1.0)] * p, method="highs")
            if res.status != 0:
                raise RuntimeError(f"the monotone-likelihood check's linear programme failed: {res.message}")
            d = res.x
            v = X @ d
            hi, lo, top = _extremes(v, g, n_g, at_risk)
            gap = hi[unit] - v[ev]  # how far each event lies below its risk set's maximum
            bad = np.flatnonzero(gap > tol)
            if not len(bad):
                break
            bad = bad[np.argsort(-gap[bad], kind="stable")[:batch]]
            A = np.unique(np.vstack([A, X[top[unit[bad]]] - X[ev[bad]]]), axis=0)
        else:
            raise RuntimeError(f"the monotone-likelihood check did not settle in {max_rounds} rounds")
        if not (v[ev] - lo[unit] > tol).any():  # no pair strict: no direction left
            break
        directions.append(d)
        strata = np.unique(np.column_stack([strata, _levels(v, tol)]), axis=0, return_inverse=True)[1].ravel()
    D = np.array(directions).reshape(len(directions), p)
    nz = np.abs(D) > tol
    sign = np.zeros(p)
    if len(D):
        first = nz.argmax(axis=0)  # the first direction with a non-zero component (0 when there is none)
        sign = np.where(nz.any(axis=0), np.sign(D[first, np.arange(p)]), 0.0)
    has_event = np.bincount(strata, weights=E.astype(float)) > 0
    infinite = nz.any(axis=0)
    basis, undetermined = np.eye(p), np.zeros(p, dtype=bool)
    if len(D):
        basis = estimable_basis(D, p)
        if basis.shape[1]:
            info = basis.T @ _information(X, strata, cell, ce[:, 0], ce[:, 1], E, T) @ basis
            w, V = np.linalg.eigh((info + info.T) / 2)
            flat = w <= 1e-10 * w.max() if w.max() > 0 else np.ones(len(w), dtype=bool)
            if flat.any():  # the stratified likelihood is flat along basis @ V[:, flat]: left out of the basis
                basis = basis @ V[:, ~flat]
        undetermined = ~infinite & (1 - (basis ** 2).sum(axis=1) > tol)
    return CoxSeparation(directions=D, strata=strata, infinite=infinite, sign=sign, rows=~has_event[strata],
                         basis=basis, undetermined=undetermined)


def _information(X, strata, cell, cell_entry, cell_T, E, T) -> np.ndarray:
    """The information matrix at β = 0 of the Cox model stratified by ``strata`` (Breslow's form): the sum over
    (stratum, event time) of the events times the covariance of ``x`` over the risk set, from per-cell sums (the
    risk sets of :func:`_risk_cells`). Rows in a stratum without an event are in no risk set."""
    p = X.shape[1]
    if not E.any():
        return np.zeros((p, p))
    g, at_risk, ev, unit = _risk_cells(strata, cell, cell_entry, cell_T, E, T)
    n_g = at_risk.shape[1]
    count = np.bincount(g, minlength=n_g).astype(float)
    xsum = np.column_stack([np.bincount(g, weights=X[:, a], minlength=n_g) for a in range(p)])
    x2sum = np.column_stack([np.bincount(g, weights=X[:, a] * X[:, b], minlength=n_g)
                             for a in range(p) for b in range(p)])
    R = at_risk.astype(float)
    n_u, s1, s2 = R @ count, R @ xsum, (R @ x2sum).reshape(-1, p, p)
    d_u = np.bincount(unit, minlength=len(R)).astype(float)
    mean = s1 / n_u[:, None]
    cov = s2 / n_u[:, None, None] - mean[:, :, None] * mean[:, None, :]
    return np.einsum("u,uab->ab", d_u, cov)
