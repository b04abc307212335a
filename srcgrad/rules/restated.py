"""Library functions restated as plain Python over primitives that have rules.

A function registered here with ``declare(fn, restated=...)`` is never called by
generated code: lowering inlines its restatement in its place, as it inlines the user's
own functions, so its derivatives (both modes, every order, under jit where the pieces
compile) come from the pieces' rules.  A restatement computes exactly what the library
function returns, other triangles and flags included, so the value is the primal's.

Why restate rather than write rules: ``scipy.linalg.cho_factor`` returns a ``(c,
lower)`` tuple that ``cho_solve`` takes back as one argument; a rule would need a
derivative through a flag inside a tuple argument.  As two triangular solves, LAPACK's
own algorithm, ``cho_solve`` needs no rule of its own.
"""

import numpy as np

from srcgrad.rules.registry import declare

try:                                   # scipy is optional (the jit and test extras)
    import scipy.linalg as _scipy_linalg
    from scipy.linalg import solve_triangular
except ImportError:                    # pragma: no cover
    _scipy_linalg = None


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``scipy.linalg.cho_factor``: the Cholesky factor in the triangle LAPACK reads (the
    lower one with ``lower``), ``a``'s own entries in the other, and the flag."""
    if lower:
        return np.linalg.cholesky(a) + np.triu(a, 1), lower
    factor = np.swapaxes(np.linalg.cholesky(np.swapaxes(a, -1, -2)), -1, -2)
    return factor + np.tril(a, -1), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """``scipy.linalg.cho_solve``: ``a x = b`` for ``a = L L^T`` (or ``U^T U``) by the two
    triangular solves, reading only the factor's triangle."""
    c, lower = c_and_lower
    if lower:
        y = solve_triangular(c, b, lower=True)
        return solve_triangular(c, y, trans=1, lower=True)
    y = solve_triangular(c, b, trans=1)
    return solve_triangular(c, y)


if _scipy_linalg is not None:
    declare(_scipy_linalg.cho_factor, name="scipy.linalg.cho_factor", restated=cho_factor)
    declare(_scipy_linalg.cho_solve, name="scipy.linalg.cho_solve", restated=cho_solve)
