"""The scalar kernels behind the Numba twins of special functions
(``srcgrad/runtime/special_helpers.py``) agree with SciPy and ``math`` over their
domains, in plain Python and compiled, including the edges (near +-1 for erfinv, tails,
reflection for negative arguments, huge/small argument ratios for betaln)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sc

from srcgrad.runtime import special_helpers as h

RNG = np.random.default_rng(11)


def _grid(*parts):
    return np.concatenate([np.asarray(p, float).ravel() for p in parts])


UNARY = [
    (h._digamma, sc.digamma, _grid(RNG.uniform(0.01, 60, 400), RNG.uniform(-20, -0.01, 200), [1.0, 0.5])),
    (h._erfinv, sc.erfinv, _grid(RNG.uniform(-1, 1, 400), 1 - 10.0 ** -RNG.uniform(1, 15, 100),
                                 -1 + 10.0 ** -RNG.uniform(1, 15, 100), [0.0, 0.5, -0.5, 1.0, -1.0])),
    (h._erfcinv, sc.erfcinv, _grid(RNG.uniform(0, 2, 400), 10.0 ** -RNG.uniform(1, 300, 100),
                                   2 - 10.0 ** -RNG.uniform(1, 15, 100), [0.0, 1.0, 2.0, 0.5, 1.5])),
    (h._expit, sc.expit, RNG.uniform(-50, 50, 400)),
    (h._log_expit, sc.log_expit, RNG.uniform(-50, 50, 400)),
    (h._logit, sc.logit, RNG.uniform(0.0005, 0.9995, 400)),
    (h._erf, sc.erf, RNG.uniform(-6, 6, 400)),
    (h._erfc, sc.erfc, RNG.uniform(-6, 20, 400)),
    (h._gamma, sc.gamma, _grid(RNG.uniform(-10, 150, 400))),
    (h._gammaln, sc.gammaln, _grid(RNG.uniform(0.001, 1e4, 400), RNG.uniform(-10, 0, 100))),
    (h._loggamma, lambda x: sc.loggamma(x), RNG.uniform(0.001, 1e4, 400)),
    (h._entr, sc.entr, _grid(RNG.uniform(0, 5, 400), [0.0, -1.0])),
    (h._cbrt, np.cbrt, RNG.uniform(-100, 100, 400)),
]

BINARY = [
    (h._betaln, sc.betaln, 10 ** RNG.uniform(-2, 8, 400), 10 ** RNG.uniform(-2, 3, 400)),
    (h._xlogy, sc.xlogy, _grid(RNG.uniform(-3, 3, 400), [0.0]), _grid(RNG.uniform(0.01, 3, 400), [0.0])),
    (h._xlog1py, sc.xlog1py, _grid(RNG.uniform(-3, 3, 400), [0.0]), _grid(RNG.uniform(-0.99, 3, 400), [-1.0])),
    (h._rel_entr, sc.rel_entr, _grid(RNG.uniform(0, 3, 400), [0.0, -1.0]), _grid(RNG.uniform(0, 3, 400), [1.0, 1.0])),
    (h._polygamma, lambda n, x: sc.polygamma(int(n), x), RNG.integers(0, 6, 400).astype(float),
     _grid(RNG.uniform(0.05, 40, 300), RNG.uniform(-6, -0.05, 100))),
    (h._ieee_remainder, math.remainder, _grid(RNG.uniform(-50, 50, 400), [5.0, 7.0, -5.0, 1e300]),
     _grid(RNG.uniform(-5, 5, 400), [2.0, 2.0, 2.0, 3.1])),
    (h._fmod, math.fmod, RNG.uniform(-50, 50, 400), RNG.uniform(-5, 5, 400)),
    (h._heaviside, np.heaviside, _grid(RNG.uniform(-1, 1, 400), [0.0, -0.0]), _grid(RNG.uniform(0, 1, 400), [0.3, 0.7])),
]


def _agree(got, want, what, rtol=2e-12, atol=1e-300):
    got, want = np.asarray(got, float), np.asarray(want, float)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


# Near its root x0 = 1.4616... digamma is ~0: compare there with an absolute tolerance.
def _tolerances(kernel):
    if kernel is h._digamma:
        return dict(rtol=2e-12, atol=1e-14)
    if kernel is h._erfc:                       # deep tail: libm and cephes differ by ulps
        return dict(rtol=1e-12)
    return {}


@pytest.mark.parametrize("kernel, ref, xs", UNARY, ids=[k.__name__ for k, _, _ in UNARY])
def test_unary_kernels_agree_with_scipy(kernel, ref, xs):
    with np.errstate(all="ignore"):
        want = [ref(x) for x in xs]
    _agree([kernel(float(x)) for x in xs], want, kernel.__name__, **_tolerances(kernel))


@pytest.mark.parametrize("kernel, ref, xs, ys", BINARY, ids=[k.__name__ for k, *_ in BINARY])
def test_binary_kernels_agree_with_the_library(kernel, ref, xs, ys):
    with np.errstate(all="ignore"):
        want = [ref(x, y) for x, y in zip(xs, ys)]
        got = [kernel(float(x), float(y)) for x, y in zip(xs, ys)]
    rtol = 1e-12 if kernel is h._betaln else 2e-12
    _agree(got, want, kernel.__name__, rtol=rtol, atol=1e-14 if kernel is h._betaln else 1e-300)


@pytest.mark.jit
@pytest.mark.parametrize("kernel, ref, xs", UNARY, ids=[k.__name__ for k, _, _ in UNARY])
def test_compiled_unary_kernels(kernel, ref, xs):
    import srcgrad.backends.numba  # noqa: F401  (kernels calling kernels compile through twins)
    from srcgrad.runtime.twins import numba
    got = numba.vectorize(kernel)(xs)
    with np.errstate(all="ignore"):
        want = [kernel(float(x)) for x in xs]
    # Numba's own lgamma and libm calls round a little differently from CPython's
    _agree(got, want, kernel.__name__, rtol=1e-13, atol=1e-14)


@pytest.mark.jit
def test_twins_take_scalars_arrays_and_broadcast():
    import numba

    import srcgrad.backends.numba  # noqa: F401  (applies the twins)

    @numba.njit
    def run(x, y):
        return (sc.expit(x), sc.xlogy(x, y), sc.expit(0.25), sc.betaln(x[0, 0], 2.0),
                sc.polygamma(1, y), sc.erfinv(x.T / 4))
    x = RNG.uniform(0.5, 2.0, (3, 4))
    y = RNG.uniform(0.5, 2.0, 4)
    got = run(x, y)
    want = (sc.expit(x), sc.xlogy(x, y), sc.expit(0.25), sc.betaln(x[0, 0], 2.0),
            sc.polygamma(1, y), sc.erfinv(x.T / 4))
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-13)
    assert isinstance(got[2], float)
