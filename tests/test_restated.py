"""Library functions restated over primitives (srcgrad/rules/restated.py): the Gaussian
process likelihood through scipy.linalg.cho_factor and cho_solve, checked for the
primal's value, against central differences in both modes and to second order, with and
without jit, including the factor's other triangle and a matrix that is not symmetric
(each form reads only its own triangle, as LAPACK does)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.linalg import cho_factor, cho_solve

import srcgrad
from tests.helpers import numeric_grad

EPS = 1e-6


def gp_nll(log_ell, X, y):
    ell = np.exp(log_ell)
    d = X[:, None] - X[None, :]
    K = np.exp(-0.5 * d ** 2 / ell ** 2) + 0.1 * np.eye(len(X))
    c, low = cho_factor(K)
    alpha = cho_solve((c, low), y)
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(c)))


def lower_factor(a, b):
    c, low = scipy.linalg.cho_factor(a, lower=True)
    return np.sum(scipy.linalg.cho_solve((c, low), b) ** 2) + np.sum(c * np.arange(16.0).reshape(4, 4))


def upper_factor(a, b):
    factor = scipy.linalg.cho_factor(a)
    return np.sum(scipy.linalg.cho_solve(factor, b) * b) + np.sum(factor[0] ** 2)


X = np.linspace(0.0, 2.0, 5)
Y = np.sin(3.0 * X)


def _matrix():
    rng = np.random.default_rng(4)
    b = rng.standard_normal((4, 4))
    a = b @ b.T + 4.0 * np.eye(4)
    a[0, 3] += 0.3                    # not symmetric: each form reads one triangle
    return a, rng.standard_normal((4, 2))


@pytest.mark.parametrize("jit", [False, True])
def test_gaussian_process_likelihood(jit):
    value, grad = srcgrad.value_and_grad(gp_nll, jit=jit)(0.1, X, Y)
    assert value == pytest.approx(gp_nll(0.1, X, Y), rel=1e-13)
    assert grad == pytest.approx(numeric_grad(gp_nll, (0.1, X, Y), 0), rel=1e-6)


@pytest.mark.parametrize("f", [lower_factor, upper_factor])
@pytest.mark.parametrize("jit", [False, True])
def test_both_triangles_against_differences(f, jit):
    a, b = _matrix()
    value, (ga, gb) = srcgrad.value_and_grad(f, (0, 1), jit=jit)(a, b)
    assert value == pytest.approx(f(a, b), rel=1e-12)
    np.testing.assert_allclose(ga, numeric_grad(f, (a, b), 0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, numeric_grad(f, (a, b), 1), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("f", [lower_factor, upper_factor])
def test_forward_mode(f):
    a, b = _matrix()
    da = np.random.default_rng(5).standard_normal(a.shape)
    value, tangent = srcgrad.jvp(f, (a, b), (da, np.zeros_like(b)))
    want = (f(a + EPS * da, b) - f(a - EPS * da, b)) / (2 * EPS)
    assert value == pytest.approx(f(a, b), rel=1e-12)
    assert tangent == pytest.approx(want, rel=1e-6)


def test_second_order():
    gradient = srcgrad.grad(gp_nll)
    want = (gradient(0.1 + EPS, X, Y) - gradient(0.1 - EPS, X, Y)) / (2 * EPS)
    assert srcgrad.hvp(gp_nll)(0.1, X, Y, 1.0) == pytest.approx(want, rel=1e-6)


def test_the_factor_is_scipys_with_its_other_triangle():
    a, _ = _matrix()

    def factor_entries(m, lower):
        c, low = scipy.linalg.cho_factor(m, lower=lower)
        return np.sum(c * np.arange(16.0).reshape(4, 4)) + (1.0 if low else 0.0)

    for lower in (False, True):
        got = srcgrad.value_and_grad(factor_entries)(a, lower)[0]
        assert got == pytest.approx(factor_entries(a, lower), rel=1e-13)
