"""Special functions through the whole compiler: the spellings a user writes
(``scipy.special.expit(x)``, ``from scipy.special import expit``, ``sc.gammaln``),
scalars where SciPy returns 0-d arrays (polygamma), every axis/keepdims/weights form of
logsumexp, softmax and log_softmax under jit, second derivatives (whose rules call other
special functions: digamma's calls polygamma) and forward mode."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
import scipy.special
import scipy.special as sc
from scipy.special import erfinv, expit, gammaln, logsumexp, polygamma

import srcgrad
from tests.helpers import numeric_grad

JITS = [pytest.param(False, id="python"), pytest.param(True, id="jit", marks=pytest.mark.jit)]


# --------------------------------------------------------------------------- spellings
def logistic_loss_dotted(w, x):
    return np.sum(scipy.special.expit(x @ w))


def logistic_loss_imported(w, x):
    return np.sum(expit(x @ w))


def logistic_loss_alias(w, x):
    return np.sum(sc.expit(x @ w))


W = np.array([0.3, -0.7, 1.1])
X = np.array([[1.0, 2.0, -0.5], [0.2, -1.0, 0.4], [-1.5, 0.3, 0.8], [0.6, 0.6, -0.9]])


@pytest.mark.parametrize("jit", JITS)
@pytest.mark.parametrize("f", [logistic_loss_dotted, logistic_loss_imported, logistic_loss_alias])
def test_every_spelling_of_a_scipy_function(f, jit):
    s = 1.0 / (1.0 + np.exp(-(X @ W)))
    want = X.T @ (s * (1.0 - s))
    value, got = srcgrad.value_and_grad(f, jit=jit)(W, X)
    assert value == pytest.approx(np.sum(s), rel=1e-14)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_show_names_the_scipy_function():
    d = srcgrad.grad(logistic_loss_imported)
    d(W, X)
    text = srcgrad.show(d, file=io.StringIO())
    # bound by its own name in the generated module (``expit_1`` when the result is ``expit``)
    assert re.search(r"= expit(_\d+)?\(tmp\)", text) and "np.expit" not in text


# --------------------------------------------------------------------------- scalars
def trigamma_of_scalar(x):
    return polygamma(1, x) * x


def gammaln_of_scalar(x):
    return gammaln(x) + math.lgamma(x + 1.0)


def mixed_math(x, y):
    return math.erfc(x) * math.cbrt(y) + math.fmod(y, x) + math.remainder(y, 0.7) \
        + math.copysign(x, -y) + math.gamma(x + 2.0)


@pytest.mark.parametrize("jit", JITS)
def test_polygamma_of_a_scalar(jit):
    x = 1.7
    got = srcgrad.grad(trigamma_of_scalar, jit=jit)(x)
    want = float(sc.polygamma(1, x) + x * sc.polygamma(2, x))
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("jit", JITS)
def test_scalar_special_functions(jit):
    x = 2.3
    assert srcgrad.grad(gammaln_of_scalar, jit=jit)(x) == pytest.approx(
        sc.digamma(x) + sc.digamma(x + 1.0), rel=1e-12)
    args = [0.9, 1.6]
    for i in (0, 1):
        got = srcgrad.grad(mixed_math, wrt=i, jit=jit)(*args)
        assert got == pytest.approx(numeric_grad(mixed_math, args, i), rel=1e-6)


# --------------------------------------------------------------------------- softmax family
def lse_weighted(a, b, w):
    return np.sum(logsumexp(a, axis=1, b=b) * w)


RNG = np.random.default_rng(3)
A3 = RNG.uniform(-3.0, 3.0, (2, 3, 4))


@pytest.mark.parametrize("jit", JITS)
@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (0, False), (1, True),
                                            (-1, False), (2, True)])
def test_logsumexp_axes(axis, keepdims, jit):
    w = RNG.uniform(0.5, 1.5, np.shape(logsumexp(A3, axis=axis, keepdims=keepdims)))
    f = _loss(f"logsumexp(a, axis={axis!r}, keepdims={keepdims!r})")
    value, got = srcgrad.value_and_grad(f, jit=jit)(A3, w)
    assert value == pytest.approx(f(A3, w), rel=1e-13)
    np.testing.assert_allclose(got, numeric_grad(f, [A3, w], 0), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("jit", JITS)
def test_logsumexp_weights(jit):
    a = RNG.uniform(-3.0, 3.0, (3, 4))
    b = RNG.uniform(0.5, 2.0, (4,))
    w = RNG.uniform(0.5, 1.5, 3)
    for i in (0, 1):
        got = srcgrad.grad(lse_weighted, wrt=i, jit=jit)(a, b, w)
        np.testing.assert_allclose(got, numeric_grad(lse_weighted, [a, b, w], i), rtol=1e-6)


def test_logsumexp_return_sign_is_refused():
    def signed(a):
        value, sign = logsumexp(a, return_sign=True)
        return value * sign
    with pytest.raises(srcgrad.SrcgradError):
        srcgrad.grad(signed)(np.ones(3))


@pytest.mark.parametrize("jit", JITS)
@pytest.mark.parametrize("loss", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_softmax_axes(loss, axis, jit):
    w = RNG.uniform(0.5, 1.5, A3.shape)
    f = _loss(f"sc.{loss}(a, axis={axis!r})")
    value, got = srcgrad.value_and_grad(f, jit=jit)(A3, w)
    assert value == pytest.approx(f(A3, w), rel=1e-13)
    np.testing.assert_allclose(got, numeric_grad(f, [A3, w], 0), rtol=1e-6, atol=1e-9)


_LOSSES: dict = {}


def _loss(call: str):
    """``f(a, w) = sum(<call> * w)`` written into a module of its own: srcgrad reads the
    source, and the axis and keepdims of the call must be literals in it."""
    if call not in _LOSSES:
        import importlib.util
        import sys
        import tempfile
        from pathlib import Path
        name = f"special_e2e_loss_{len(_LOSSES)}"
        path = Path(tempfile.mkdtemp()) / f"{name}.py"
        path.write_text("import numpy as np\nimport scipy.special as sc\n"
                        "from scipy.special import logsumexp\n\n"
                        f"def f(a, w):\n    return np.sum({call} * w)\n")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _LOSSES[call] = module.f
    return _LOSSES[call]


# --------------------------------------------------------------------------- second order
def unary_sum(x):
    return np.sum(sc.gammaln(x) + sc.digamma(x) + sc.erfinv(x / 4.0) + sc.expit(x)
                  + sc.log_expit(-x) + sc.erf(x) + sc.entr(x) + np.arcsinh(x) + np.cbrt(x)
                  + sc.gamma(x) + sc.logit(x / 4.0) + np.exp2(x))


def binary_sum(x):
    y = x[::-1]
    return np.sum(sc.xlogy(x, y) + sc.betaln(x, y) + sc.rel_entr(x, y) + np.logaddexp2(x, y)
                  + np.float_power(x, y)) + logsumexp(x * y) + np.sum(sc.softmax(x) * y)


def _second_derivative_of(f, x):
    """The Hessian of ``f`` at ``x`` by central differences of srcgrad's own gradient."""
    g = srcgrad.grad(f)
    eps = 1e-6
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = eps
        cols.append((g(x + e) - g(x - e)) / (2 * eps))
    return np.array(cols).T


@pytest.mark.parametrize("f", [unary_sum, binary_sum])
def test_hessians(f):
    x = np.array([0.6, 1.3, 2.2, 0.9, 1.7])
    want = _second_derivative_of(f, x)
    np.testing.assert_allclose(srcgrad.hessian(f)(x), want, rtol=1e-5, atol=1e-6)
    # reverse over reverse
    np.testing.assert_allclose(srcgrad.jacobian(srcgrad.grad(f))(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.jit
@pytest.mark.parametrize("f", [unary_sum, binary_sum])
def test_hessians_under_jit(f):
    x = np.array([0.6, 1.3, 2.2, 0.9, 1.7])
    np.testing.assert_allclose(srcgrad.hessian(f, jit=True)(x), srcgrad.hessian(f)(x),
                               rtol=1e-10, atol=1e-12)


def third_order(x):
    return sc.digamma(x) * x


def test_third_derivative_through_polygamma():
    d3 = srcgrad.grad(srcgrad.grad(srcgrad.grad(third_order)))
    x = 1.9
    # (x psi(x))''' = 3 psi''(x) + x psi'''(x)
    want = 3 * sc.polygamma(2, x) + x * sc.polygamma(3, x)
    assert float(d3(x)) == pytest.approx(float(want), rel=1e-12)


# --------------------------------------------------------------------------- forward mode
@pytest.mark.parametrize("jit", [False, True])
def test_forward_mode(jit):
    x = np.array([0.6, 1.3, 2.2, 0.9, 1.7])
    v = np.linspace(-1.0, 1.0, x.size)
    for f in (unary_sum, binary_sum):
        value, tangent = srcgrad.jvp(f, (x,), (v,), jit=jit)
        assert value == pytest.approx(f(x), rel=1e-13)
        assert tangent == pytest.approx(np.dot(srcgrad.grad(f)(x), v), rel=1e-10)


def test_erfinv_at_the_edge_of_its_domain():
    """The derivative sqrt(pi)/2 exp(erfinv(y)**2) is read from the result: exact near 1."""
    def f(y):
        return np.sum(erfinv(y))
    y = np.array([1 - 1e-12, -1 + 1e-10, 0.0])
    got = srcgrad.grad(f)(y)
    want = np.sqrt(np.pi) / 2 * np.exp(sc.erfinv(y) ** 2)
    np.testing.assert_allclose(got, want, rtol=1e-13)
