"""Custom derivatives: srcgrad.Function (PyTorch style), srcgrad.defvjp (autograd style),
stop_gradient, float()/int() inside differentiated code, and gradcheck."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import srcgrad
from tests.helpers import numeric_grad

RNG = np.random.default_rng(7)
W0 = RNG.standard_normal((4, 5))
X0 = RNG.standard_normal((8, 4))
Y0 = RNG.standard_normal((8, 5))


# --------------------------------------------------------------------------- Function
class KillHead(srcgrad.Function):
    """Zero the first n columns (and their gradient)."""

    @staticmethod
    def forward(ctx, x, n):
        ctx.n = n
        y = x.copy()
        y[:, :n] = 0.0
        return y

    @staticmethod
    def backward(ctx, grad_output):
        g = grad_output.copy()
        g[:, :ctx.n] = 0.0
        return g, None


class Cube(srcgrad.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3.0 * x ** 2 * g


class TooMany(srcgrad.Function):
    @staticmethod
    def forward(ctx, x):
        return 2.0 * x

    @staticmethod
    def backward(ctx, g):
        return 2.0 * g, g


class WrongShape(srcgrad.Function):
    @staticmethod
    def forward(ctx, x):
        return 2.0 * x

    @staticmethod
    def backward(ctx, g):
        return np.sum(g)


def mse_killhead(W, X, Y):
    P = KillHead.apply(X @ W, 2)
    return np.mean((P - Y) ** 2)


def cube_sum(x):
    return np.sum(Cube.apply(x) * x)


def uses_too_many(x):
    return np.sum(TooMany.apply(x))


def uses_wrong_shape(x):
    return np.sum(WrongShape.apply(x))


def test_killhead_gradient_matches_numeric_and_zeroes_head():
    g = srcgrad.grad(mse_killhead)(W0, X0, Y0)
    np.testing.assert_allclose(g, numeric_grad(mse_killhead, [W0, X0, Y0], 0), rtol=1e-6, atol=1e-9)
    assert np.all(g[:, :2] == 0.0) and np.all(g[:, 2:] != 0.0)


def test_killhead_gradient_descent_lowers_the_loss():
    W = W0.copy()
    df = srcgrad.value_and_grad(mse_killhead)
    first, _ = df(W, X0, Y0)
    for _ in range(50):
        loss, g = df(W, X0, Y0)
        W = W - 0.1 * g
    assert mse_killhead(W, X0, Y0) < 0.8 * first
    np.testing.assert_array_equal(W[:, :2], W0[:, :2])    # the killed columns never move


def test_function_with_saved_tensors():
    x = RNG.standard_normal(6)
    np.testing.assert_allclose(srcgrad.grad(cube_sum)(x), 4.0 * x ** 3, rtol=1e-12)


def test_function_outside_differentiation_is_forward():
    np.testing.assert_allclose(Cube.apply(np.array([2.0])), [8.0])


@pytest.mark.parametrize("fn, words", [(uses_too_many, ["TooMany", "2 value"]),
                                       (uses_wrong_shape, ["WrongShape", "shape"])])
def test_bad_backward_is_reported_with_the_function_name(fn, words):
    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.grad(fn)(np.ones(3))
    assert all(w in str(info.value) for w in words), str(info.value)


def test_function_is_refused_in_jit_mode_at_its_line():
    lines, first = inspect.getsourcelines(cube_sum)
    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.grad(cube_sum, jit=True)(np.ones(3))
    assert "Cube" in str(info.value) and f"line {first + 1}" in str(info.value)


def test_function_differentiated_twice_is_refused_at_its_line():
    lines, first = inspect.getsourcelines(cube_sum)
    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.hvp(cube_sum)(np.ones(3), np.ones(3))
    message = str(info.value)
    assert "'Cube'" in message and "plain NumPy code" in message and f"line {first + 1}" in message


# --------------------------------------------------------------------------- defvjp
def absdot(u, v):
    """The elementwise |u * v| summed: the classic example with two gradients."""
    return np.sum(np.abs(u * v))


def softplus(x):
    return np.log1p(np.exp(x))


srcgrad.defvjp(softplus, lambda g, ans, x: g / (1.0 + np.exp(-x)))


def _logistic_vjp(g, ans, x, scale=1.0):
    s = 1.0 / (1.0 + np.exp(-scale * x))
    return g * scale * s * (1.0 - s)


def logistic(x, scale=1.0):
    return 1.0 / (1.0 + np.exp(-scale * x))


srcgrad.defvjp(logistic, _logistic_vjp)


def uses_softplus(x):
    return np.sum(softplus(2.0 * x) ** 2)


def uses_logistic(x):
    return np.sum(logistic(x, scale=3.0) * x)


def test_absdot_both_gradients():
    u, v = RNG.standard_normal(5), RNG.standard_normal(5)
    gu, gv = srcgrad.grad(absdot, wrt=(0, 1))(u, v)
    np.testing.assert_allclose(gu, np.sign(u * v) * v, rtol=1e-12)
    np.testing.assert_allclose(gv, np.sign(u * v) * u, rtol=1e-12)


@pytest.mark.parametrize("fn", [uses_softplus, uses_logistic])
def test_defvjp_rules_are_used(fn):
    x = RNG.standard_normal(4)
    np.testing.assert_allclose(srcgrad.grad(fn)(x), numeric_grad(fn, [x], 0), rtol=1e-6, atol=1e-9)


def test_defvjp_lambda_is_inlined_and_def_rule_is_called():
    x = RNG.standard_normal(4)
    df = srcgrad.grad(uses_softplus)
    df(x)
    assert "np.exp(-" in df.source and "softplus(" in df.source
    dl = srcgrad.grad(uses_logistic)
    dl(x)
    assert "_logistic_vjp(" in dl.source


def test_defvjp_for_scipy_function():
    special = pytest.importorskip("scipy.special")
    srcgrad.defvjp(special.ndtr, lambda g, ans, x: g * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi))

    def normal_cdf_sum(x):
        return np.sum(special.ndtr(x) * x)
    import types
    mod = types.ModuleType("m")
    x = RNG.standard_normal(5)
    assert srcgrad.gradcheck(normal_cdf_sum, (x,))
    del mod


def test_defvjp_with_an_njit_kernel_in_jit_mode():
    numba = pytest.importorskip("numba")

    @numba.njit
    def scaled_square(x):
        return 3.0 * x * x

    srcgrad.defvjp(scaled_square, lambda g, ans, x: g * 6.0 * x)
    x = RNG.standard_normal(5)
    got = srcgrad.grad(_kernel_user(scaled_square), jit=True)(x)
    np.testing.assert_allclose(got, 6.0 * x * np.cos(x) + 3.0 * x * x * (-np.sin(x)), rtol=1e-12)


def _kernel_user(kernel):
    def use_kernel(x):
        s = 0.0
        for i in range(len(x)):
            s = s + kernel(x[i]) * np.cos(x[i])
        return s
    return use_kernel


# --------------------------------------------------------------------------- stop_gradient, float, int
def stopped(x):
    return x * srcgrad.stop_gradient(x)


def float_and_int(x, y):
    k = int(y * 10.0)
    return float(x) ** 2 * k


def test_stop_gradient():
    assert srcgrad.grad(stopped)(3.0) == pytest.approx(3.0)


def test_float_keeps_and_int_drops_the_derivative():
    gx, gy = srcgrad.grad(float_and_int, wrt=(0, 1))(1.5, 0.37)
    assert gx == pytest.approx(2 * 1.5 * 3) and gy == 0.0


# --------------------------------------------------------------------------- gradcheck
def wrongly_ruled(x):
    return np.sum(_bad(x))


def _bad(x):
    return np.sin(x)


srcgrad.defvjp(_bad, lambda g, ans, x: g * np.sin(x))      # wrong on purpose: not cos


def vector_out(x, y):
    return np.tanh(x) * y


def test_gradcheck_passes_for_correct_gradients():
    assert srcgrad.gradcheck(mse_killhead, (W0, X0, Y0))
    assert srcgrad.gradcheck(absdot, (RNG.standard_normal(4), RNG.standard_normal(4)))
    assert srcgrad.gradcheck(vector_out, (RNG.standard_normal(3), RNG.standard_normal(3)))
    assert srcgrad.gradcheck(uses_softplus, (RNG.standard_normal(3),))


def test_gradcheck_names_input_index_and_values():
    x = np.array([0.1, 0.7, -0.4])
    with pytest.raises(srcgrad.GradcheckError) as info:
        srcgrad.gradcheck(wrongly_ruled, (x,))
    message = str(info.value)
    assert "input 'x'" in message and "analytic" in message and "numeric" in message
    worst = np.argmax(np.abs(np.sin(x) - np.cos(x)))
    assert f"[{worst}]" in message.splitlines()[1]
