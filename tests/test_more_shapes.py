"""np.sinc, np.average, np.pad, np.select, np.interp and np.split in realistic user
functions: gradients against central differences with and without jit=True, Hessian-vector
products (np.sinc exactly at 0 among them), and the forms srcgrad refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

import srcgrad
from tests.helpers import numeric_grad

RNG = np.random.default_rng(7)
X6 = RNG.standard_normal(6)
U = RNG.standard_normal((3, 4))
W4 = RNG.uniform(0.5, 2.0, 4)
W34 = RNG.uniform(0.5, 2.0, (3, 4))
XP = np.array([0.0, 0.4, 1.1, 1.5, 2.6])
FP = np.array([1.0, -0.5, 0.7, 2.0, 0.1])


def split_product(x):
    a, b = np.split(x, 2)
    return np.sum(a * b)


def split_parts(x):
    parts = np.split(x, [1, 4])
    return np.sum(parts[0] ** 2) + np.sum(np.sin(parts[1])) * np.sum(parts[2])


def array_split_columns(u):
    left, right = np.array_split(u, 2, axis=1)
    return np.sum(left * left) - np.sum(np.cos(right))


def profile(x, fp):
    """A piecewise-linear temperature profile read at x."""
    return np.sum(np.interp(x, XP, fp) ** 2)


def profile_ends(x, fp, lo):
    return np.sum(np.interp(x, XP, fp, left=lo, right=2.0) * x)


def stencil(u):
    """A padded second-difference stencil with zero boundary values."""
    p = np.pad(u, 1)
    return np.sum((p[2:] - 2.0 * p[1:-1] + p[:-2]) ** 2)


def padded_border(u, c):
    p = np.pad(u, ((1, 2), (0, 1)), constant_values=c)
    return np.sum(np.sin(p) * p)


def weighted_mean(x, w):
    return np.average(x, weights=w) ** 2


def row_means(u, w):
    return np.sum(np.average(u, axis=1, weights=w) ** 3)


def piecewise(x):
    return np.sum(np.select([x > 0, x <= 0], [x ** 2, -x]))


def piecewise_default(x, d):
    return np.sum(np.select([x > 0.5, x < -0.5], [x ** 3, np.sin(x)], d) * x)


def sinc_sum(x):
    return np.sum(np.sinc(x) * x)


CASES = [
    (split_product, [X6]),
    (split_parts, [X6]),
    (array_split_columns, [U]),
    (profile, [RNG.uniform(-0.3, 2.9, 7), FP]),
    (profile_ends, [RNG.uniform(-0.3, 2.9, 7), FP, 0.3]),
    (stencil, [X6]),
    (padded_border, [U, 0.7]),
    (weighted_mean, [U, W34]),
    (row_means, [U, W4]),
    (piecewise, [X6]),
    (piecewise_default, [X6, 0.25]),
    (sinc_sum, [X6]),
]


@pytest.mark.parametrize("jit", [False, True], ids=["python", "jit"])
@pytest.mark.parametrize("f, args", CASES, ids=[f.__name__ for f, _ in CASES])
def test_gradient_matches_central_differences(f, args, jit):
    for i in range(len(args)):
        got = srcgrad.grad(f, wrt=i, jit=jit)(*args)
        np.testing.assert_allclose(got, numeric_grad(f, args, i), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{f.__name__}: d/d arg {i}")


@pytest.mark.parametrize("f, args", CASES, ids=[f.__name__ for f, _ in CASES])
def test_hessian_vector_products(f, args):
    for i, a in enumerate(args):
        v = np.random.default_rng(i).standard_normal(np.shape(a))
        v = v if np.ndim(a) else float(v)
        gradient = srcgrad.grad(f, wrt=i)
        eps = 1e-5
        plus, minus = list(args), list(args)
        plus[i] = a + eps * v
        minus[i] = a - eps * v
        want = (np.asarray(gradient(*plus)) - np.asarray(gradient(*minus))) / (2 * eps)
        got = srcgrad.hvp(f, i)(*args, v)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{f.__name__}: arg {i}")


def test_interp_knots_and_second_order_in_fp_and_xp():
    def g(x, xp, fp):
        return np.sum(np.interp(x, xp, fp) ** 2)
    x = np.array([-0.2, 0.3, 0.9, 1.3, 2.0, 3.0])
    for i in (0, 1, 2):
        np.testing.assert_allclose(srcgrad.grad(g, wrt=i)(x, XP, FP), numeric_grad(g, [x, XP, FP], i),
                                   rtol=1e-6, atol=1e-8)
        v = np.random.default_rng(i).standard_normal(np.shape([x, XP, FP][i]))
        args = [x, XP, FP]
        plus, minus = list(args), list(args)
        plus[i] = args[i] + 1e-5 * v
        minus[i] = args[i] - 1e-5 * v
        gradient = srcgrad.grad(g, wrt=i)
        want = (gradient(*plus) - gradient(*minus)) / 2e-5
        np.testing.assert_allclose(srcgrad.hvp(g, i)(*args, v), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "jit"])
def test_sinc_is_exact_at_zero_at_every_order(jit):
    def f(x):
        return np.sum(np.sinc(x))
    x = np.array([0.0, 0.0, 0.5])
    g = srcgrad.grad(f, jit=jit)(x)
    assert g[0] == 0.0 and g[1] == 0.0
    h = srcgrad.hvp(f, 0, jit=jit)(x, np.array([1.0, 2.0, 0.0]))
    np.testing.assert_allclose(h[:2], [-math.pi ** 2 / 3, -2 * math.pi ** 2 / 3], rtol=1e-14)

    def third(x):
        return srcgrad.hvp(f, 0)(x, np.ones(1))[0]
    # sinc''' is odd, 0 at 0; sinc'''' (0) = pi^4 / 5
    assert srcgrad.grad(third)(np.array([0.0])) == 0.0


def test_non_constant_split_sections_are_refused():
    def f(x, n):
        a, b = np.split(x, n)
        return np.sum(a * b)
    with pytest.raises(srcgrad.SrcgradError, match="indices_or_sections as a constant"):
        srcgrad.grad(f)(X6, 2)


def test_unpacking_the_wrong_number_of_pieces_is_refused():
    def f(x):
        a, b = np.split(x, 3)
        return np.sum(a * b)
    with pytest.raises(srcgrad.SrcgradError, match="cannot unpack 3"):
        srcgrad.grad(f)(X6)


def test_other_pad_modes_are_refused_when_differentiated():
    def f(u):
        return np.sum(np.pad(u, 2, mode="edge") ** 2)
    with pytest.raises(srcgrad.SrcgradError, match="only mode='constant'.*'edge'"):
        srcgrad.grad(f)(X6)


def test_other_pad_modes_run_when_not_differentiated():
    def f(u, s):
        return np.sum(np.pad(s, 1, mode="edge")) * np.sum(u ** 2)
    np.testing.assert_allclose(srcgrad.grad(f)(X6, np.ones(3)), 2 * X6 * 5.0)


def test_average_returned_is_refused():
    def f(x, w):
        return np.average(x, weights=w, returned=True)[0]
    with pytest.raises(srcgrad.SrcgradError, match="returned=True"):
        srcgrad.grad(f)(U, W34)


# ----------------------------------------------------------------- inside loops
KNOTS = np.linspace(0.0, 1.0, 6)


def padded_stencil_steps(u0, k):
    u = u0.copy()
    for step in range(4):
        p = np.pad(u, 1)
        u = u + k * (p[2:] - 2.0 * u + p[:-2])
        a, b = np.split(u, 2)
        u = np.concatenate((a * 0.9, np.sinc(b)))
    return np.sum(u ** 2)


def interpolated_orbit(fp, x0):
    x = x0
    total = 0.0
    for i in range(5):
        x = 0.5 * x + 0.2 * np.interp(x, KNOTS, fp)
        total += np.average(fp, weights=np.arange(1.0, 7.0)) * x
        xs = x * np.ones(2)
        total += np.sum(np.select([xs > 0.3, xs <= 0.3], [xs ** 2, -xs]))
    return total


def compared_pieces(u0):
    """The pieces' comparison is recorded for the reverse sweep: an array of booleans,
    although the pieces' type cannot be worked out before running (it was recorded as
    one boolean per iteration, and the gradient failed with NumPy's ValueError)."""
    u = u0.copy()
    total = 0.0
    for i in range(3):
        a, b = np.split(u, 2)
        total += np.sum(np.where(a > 0.0, a, 0.5 * a) * np.arange(1.0, 4.0))
        u = np.concatenate((b, a)) * 0.9
    return total


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("f, args", [
    (padded_stencil_steps, (np.linspace(-1.0, 1.0, 8), 0.2)),
    (interpolated_orbit, (np.sin(np.linspace(0.0, 3.0, 6)), 0.37)),
    (compared_pieces, (np.array([-0.7, 0.4, 1.3, -0.2, 0.9, -1.1]),)),
], ids=["pad_split_sinc", "interp_average_select", "compared_split_pieces"])
def test_inside_loops(f, args, jit):
    wrt = tuple(range(len(args)))
    value, grads = srcgrad.value_and_grad(f, wrt, jit=jit)(*args)
    assert value == pytest.approx(f(*args), rel=1e-12)
    for i, g in zip(wrt, grads):
        np.testing.assert_allclose(g, numeric_grad(f, args, i), rtol=1e-6, atol=1e-8)
