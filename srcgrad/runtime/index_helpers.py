"""Runtime helpers for the rules of ``np.sinc``, ``np.average``, ``np.pad``, ``np.select``,
``np.interp`` and ``np.split`` (``srcgrad/rules/shapes.py``), each with its Numba twin
beside it (``srcgrad.runtime.twins``), so that generated code calls the same helper with
and without ``jit=True``.
"""

from __future__ import annotations

import math

import numpy as np

from srcgrad.runtime.twins import numba, numba_twin

__all__ = ["sinc_deriv"]


# ----------------------------------------------------------------------- np.sinc
_SERIES_TERMS = 30


def _sinc_deriv(n, x):
    """The ``n``-th derivative of sinc(x) = sin(pi x) / (pi x) at the float ``x``.

    For |x| < 1 the Taylor series sinc(x) = sum_k (-1)^k (pi x)^(2k) / (2k+1)!,
    differentiated n times (exact at 0, where odd derivatives vanish and sinc'' is
    -pi^2/3); elsewhere the recurrence from differentiating x sinc(x) = sin(pi x) / pi
    n times: x f^(m) + m f^(m-1) = pi^(m-1) sin^(m)(pi x).
    """
    if abs(x) < 1.0:
        total = 0.0
        a = 1.0                                 # (-1)^k pi^(2k) / (2k+1)!
        for k in range(_SERIES_TERMS):
            if k > 0:
                a = -a * math.pi * math.pi / ((2.0 * k) * (2.0 * k + 1.0))
            m = 2 * k - n
            if m >= 0:
                falling = 1.0                   # (2k)! / (2k-n)!
                for j in range(n):
                    falling *= 2.0 * k - j
                total += a * falling * x ** m
        return total
    s = math.sin(math.pi * x)
    c = math.cos(math.pi * x)
    f = s / (math.pi * x)
    power = 1.0 / math.pi                       # pi^(m-1)
    for m in range(1, n + 1):
        power *= math.pi
        r = m % 4                               # sin^(m) = sin, cos, -sin, -cos
        d = s if r == 0 else c if r == 1 else -s if r == 2 else -c
        f = (power * d - m * f) / x
    return f


def sinc_deriv(n, x):
    """The ``n``-th derivative of ``np.sinc`` at ``x`` (elementwise; n = 0 is sinc itself),
    exact at x == 0 for every n (see ``_sinc_deriv``)."""
    xa = np.asarray(x)
    dtype = xa.dtype if np.issubdtype(xa.dtype, np.floating) else np.dtype(np.float64)
    xa = xa.astype(np.float64)
    small = np.abs(xa) < 1.0
    xs = np.where(small, xa, 0.0)
    series = np.zeros_like(xa)
    a = 1.0
    for k in range(_SERIES_TERMS):
        if k > 0:
            a = -a * math.pi * math.pi / ((2.0 * k) * (2.0 * k + 1.0))
        m = 2 * k - n
        if m >= 0:
            falling = 1.0
            for j in range(n):
                falling *= 2.0 * k - j
            series = series + a * falling * xs ** m
    xl = np.where(small, 1.0, xa)
    s = np.sin(math.pi * xl)
    c = np.cos(math.pi * xl)
    f = s / (math.pi * xl)
    power = 1.0 / math.pi
    for m in range(1, n + 1):
        power *= math.pi
        r = m % 4
        d = s if r == 0 else c if r == 1 else -s if r == 2 else -c
        f = (power * d - m * f) / xl
    out = np.where(small, series, f).astype(dtype)
    return out if np.ndim(x) else out[()]


_VECTORIZED: dict = {}


def _vectorized(kernel):
    """``numba.vectorize(kernel)``, made once (a Numba ufunc: scalars and arrays alike)."""
    vec = _VECTORIZED.get(kernel)
    if vec is None:
        vec = _VECTORIZED[kernel] = numba.vectorize(kernel)
    return vec


@numba_twin(sinc_deriv)
def _sinc_deriv_twin(n, x):
    vec = _vectorized(_sinc_deriv)
    return lambda n, x: vec(n, x)
