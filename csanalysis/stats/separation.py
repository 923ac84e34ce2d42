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

References: A. Albert and J. A. Anderson (1984), Biometrika 71(1) 1–10; K. Konis (2007), *Linear programming
algorithms for detecting separated data in binary logistic regression models*, DPhil thesis, Oxford;
C. E. Clarkson and R. I. Jennrich (1991), Journal of the American Statistical Association 86, 1–8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Separation", "find_separation", "estimable_basis"]


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
