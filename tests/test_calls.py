"""Gradients through calls to the user's own functions: callees are lowered in place (so
jit, forward mode and higher order need nothing more); a recursive call runs the
callee's own adjoint, without jit."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import srcgrad
from tests import callees
from tests.callees import energy_and_norm, smooth_abs
from tests.helpers import assert_grad

OFFSET = 0.25


def square(x, scale=2.0):
    return scale * x * x


def polar(r, t):
    return r * math.cos(t), r * math.sin(t)


def power(x, n):
    if n <= 0:
        return 1.0
    return x * power(x, n - 1)


def straight(x, y):
    a = square(x) + square(y, scale=3.0) + OFFSET
    u, v = polar(a, y)
    return u * v + power(x, 3)


def keywords(x, y):
    return square(scale=y, x=x) + square(y)


def nested(x):
    return np.sum(smooth_abs(np.sin(x)) * callees.SCALE)


def via_module(v):
    e, n = energy_and_norm(v)
    _, n2 = callees.energy_and_norm(2.0 * v)
    return e + n * n2


def calls_in_loop(x):
    s = 0.0
    for i in range(len(x)):
        p, q = polar(x[i], 0.3 * i)
        s = s + square(p) * q
    return s


def calls_in_branch(x):
    if x > 0.5:
        y = power(x, 4)
    else:
        y = square(x, scale=-1.0)
    return y


def make_closure(c):
    def scaled(x):
        return c * x * x
    return scaled


SCALED = make_closure(1.75)


def uses_closure(x):
    return SCALED(x) + x


@pytest.mark.parametrize("f, args, wrt", [
    (straight, (0.7, 1.3), (0, 1)),
    (keywords, (0.7, 1.3), (0, 1)),
    (nested, (np.array([0.2, -0.4, 1.1]),), 0),
    (via_module, (np.array([0.2, -0.4, 1.1]),), 0),
    (calls_in_loop, (np.array([0.1, 0.5, -0.3, 0.8]),), 0),
    (calls_in_branch, (0.9,), 0),
    (calls_in_branch, (0.2,), 0),
    (uses_closure, (0.6,), 0),
], ids=["straight", "keywords", "nested", "module", "loop", "branch-if", "branch-else", "closure"])
def test_gradient_through_calls(f, args, wrt):
    assert_grad(f, args, wrt)


@pytest.mark.parametrize("f, args, wrt", [
    (keywords, (0.7, 1.3), (0, 1)),
    (nested, (np.array([0.2, -0.4, 1.1]),), 0),
    (via_module, (np.array([0.2, -0.4, 1.1]),), 0),
    (calls_in_loop, (np.array([0.1, 0.5, -0.3, 0.8]),), 0),
    (uses_closure, (0.6,), 0),
], ids=["keywords", "nested", "module", "loop", "closure"])
def test_calls_under_jit_match_plain_python(f, args, wrt):
    plain = srcgrad.value_and_grad(f, wrt)(*args)
    jitted = srcgrad.value_and_grad(f, wrt, jit=True)(*args)
    assert jitted[0] == pytest.approx(plain[0], rel=1e-12)
    for a, b in zip(np.atleast_1d(plain[1]) if not isinstance(wrt, tuple) else plain[1],
                    np.atleast_1d(jitted[1]) if not isinstance(wrt, tuple) else jitted[1]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_recursion_is_bounded_and_correct():
    g = srcgrad.grad(power)(1.3, 6)
    assert g == pytest.approx(6 * 1.3 ** 5, rel=1e-12)
    source = srcgrad.grad(power).compile(1.3, 6).source
    assert "power_vjp_1(" in source and source.count("def ") == 1


def test_callees_are_lowered_in_place_and_name_their_results():
    df = srcgrad.grad(straight, wrt=(0, 1))
    source = df.compile(0.7, 1.3).source
    assert "square_vjp(" not in source and "polar_vjp(" not in source
    assert "square = " in source and "square_1 = " in source
    assert "power_vjp(" in source                      # the recursive one keeps its adjoint


def test_unpacking_the_wrong_number_of_results_is_refused():
    def bad(x):
        a, b, c = polar(x, x)
        return a
    with pytest.raises(srcgrad.SrcgradError, match="cannot unpack 2"):
        srcgrad.grad(bad)(0.3)


def test_recursion_under_jit_is_refused_at_the_recursive_call():
    lines, first = inspect.getsourcelines(power)
    with pytest.raises(srcgrad.SrcgradError, match="recursive call of 'power'") as info:
        srcgrad.grad(calls_in_branch, jit=True)(0.9)
    assert info.value.loc.line == first + 3          # return x * power(x, n - 1)


# --------------------------------------------------------------------------- nested defs and lambdas
def nested_def_and_lambda(x, c):
    def g(y, k=2.0):
        if y > 0:
            return k * y * c
        return -y
    sq = lambda z: z * z  # noqa: E731
    s = 0.0
    for i in range(len(x)):
        s = s + g(x[i]) + sq(x[i]) + g(x[i], k=c)
    return s


def nested_writes_in_place(x):
    u = x.copy()

    def bump(i, v):
        u[i] = u[i] + v * v

    for i in range(len(x)):
        bump(i, x[i])
    return np.sum(u * u)


def nested_sees_current_values(x):
    a = 2.0

    def scaled(y):
        return a * y
    first = scaled(x)
    a = 3.0
    return first + scaled(x) * x


def nested_recursive(x):
    def down(y, n):
        if n == 0:
            return y
        return down(y * y, n - 1)
    return down(x, 2)


@pytest.mark.parametrize("f, args, wrt", [
    (nested_def_and_lambda, (np.array([0.3, -0.5, 0.9]), 1.5), (0, 1)),
    (nested_writes_in_place, (np.array([0.3, -0.5, 0.9]),), 0),
    (nested_sees_current_values, (0.8,), 0),
], ids=["def-and-lambda", "writes-in-place", "closure-at-call-time"])
def test_nested_functions_are_inlined(f, args, wrt):
    assert_grad(f, args, wrt)


def test_recursive_nested_function_is_refused():
    with pytest.raises(srcgrad.SrcgradError, match="recursive nested"):
        srcgrad.grad(nested_recursive)(0.5)


def with_default(x, scale=3.0):
    return scale * x * x


def test_defaults_of_the_differentiated_function_are_filled_in():
    assert srcgrad.grad(with_default)(2.0) == pytest.approx(12.0)
    assert srcgrad.grad(with_default)(2.0, 1.0) == pytest.approx(4.0)
    out, pullback = srcgrad.vjp(with_default, 2.0)
    assert out == pytest.approx(12.0) and pullback(1.0)[0] == pytest.approx(12.0)
