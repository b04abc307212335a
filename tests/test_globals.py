"""Globals, closure cells and module attributes are read as Python reads them.

Without jit a derivative sees a global's value when it runs, as the function itself does
(generated code has them resolved, so srcgrad transforms again after a change).  With
jit a specialization takes them when it is compiled, as Numba does; a new ``grad`` never
returns a derivative compiled for old values.  Every check compares the value with the
function called directly and the gradient with central differences.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import srcgrad
from tests.helpers import numeric_grad

LAM = 10.0
W = np.array([1.0, -2.0, 0.5])
ACT = np.tanh
POWER = 2
CFG = types.ModuleType("cfg")
CFG.SCALE = 3.0
ORDER = 3

X = np.array([0.3, -0.7, 1.1])


def ridge(w):
    return np.sum(w ** 2) * LAM + np.sum(w)


def weighted(x):
    return np.sum(ACT(x) * W)


def powered(x):
    return np.sum(x ** POWER)


def configured(x):
    return np.sum(np.sin(x)) * CFG.SCALE


def looped(x):
    s = 0.0
    for i in range(ORDER):
        s = s * 0.5 + np.sum(x ** 2) * LAM
    return s


def check(derivative, f, args, wrt=0):
    """``derivative`` (a value_and_grad) gives ``f(*args)`` and its central differences."""
    value, grad = derivative(*args)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    np.testing.assert_allclose(grad, numeric_grad(f, args, wrt), rtol=1e-6, atol=1e-8)
    return value, grad


def jit_or_skip():
    pytest.importorskip("numba")


# --------------------------------------------------------------------------- without jit
@pytest.mark.parametrize("fresh", [False, True], ids=["same derivative", "new derivative"])
def test_a_changed_global_constant_is_seen(monkeypatch, fresh):
    d = srcgrad.value_and_grad(ridge)
    check(d, ridge, (X,))
    monkeypatch.setitem(globals(), "LAM", 0.5)
    d = srcgrad.value_and_grad(ridge) if fresh else d
    value, _ = check(d, ridge, (X,))
    assert value == pytest.approx(np.sum(X ** 2) * 0.5 + np.sum(X))
    assert srcgrad.grad(ridge)(X) == pytest.approx(2 * X * 0.5 + 1)


def test_rebound_array_function_and_integer_globals(monkeypatch):
    for f in (weighted, powered):
        check(srcgrad.value_and_grad(f), f, (X,))
    dw, dp = srcgrad.value_and_grad(weighted), srcgrad.value_and_grad(powered)
    monkeypatch.setitem(globals(), "W", np.array([2.0, 0.0, -1.0]))
    check(dw, weighted, (X,))
    monkeypatch.setitem(globals(), "ACT", np.sin)
    check(dw, weighted, (X,))
    monkeypatch.setitem(globals(), "POWER", 3)
    check(dp, powered, (X,))


def test_an_array_changed_in_place_is_seen():
    d = srcgrad.value_and_grad(weighted)
    check(d, weighted, (X,))
    saved = W.copy()
    try:
        W[:] = [0.5, 0.5, 4.0]
        check(d, weighted, (X,))
    finally:
        W[:] = saved


def test_module_attribute(monkeypatch):
    d = srcgrad.value_and_grad(configured)
    check(d, configured, (X,))
    monkeypatch.setattr(CFG, "SCALE", -2.0)
    check(d, configured, (X,))


def test_loop_function_reading_a_global(monkeypatch):
    d = srcgrad.value_and_grad(looped)
    check(d, looped, (X,))
    monkeypatch.setitem(globals(), "LAM", 2.5)
    check(d, looped, (X,))
    monkeypatch.setitem(globals(), "ORDER", 5)        # a trip count known at transform time
    check(d, looped, (X,))


def test_closure_cells_are_read_when_the_derivative_runs():
    scale = 1.0

    def f(x):
        return np.sum(np.sin(x)) * scale

    d = srcgrad.value_and_grad(f)
    check(d, f, (X,))
    scale = 4.0                                        # rebinds the cell f reads
    check(d, f, (X,))
    check(srcgrad.value_and_grad(f), f, (X,))


def test_callee_reading_a_global(monkeypatch):
    from tests import callees

    def f(v):
        e, n = callees.energy_and_norm(v)
        return e + n

    d = srcgrad.value_and_grad(f)
    check(d, f, (X,))
    monkeypatch.setattr(callees, "SCALE", 4.0)
    check(d, f, (X,))


def test_derivative_of_a_derivative_follows_the_global(monkeypatch):
    def f(x):
        return np.sin(x) * LAM * x

    def g(x):
        return 2 * np.cos(x) * LAM - np.sin(x) * LAM * x

    dd = srcgrad.grad(srcgrad.grad(f))
    assert dd(0.4) == pytest.approx(g(0.4), rel=1e-12)
    monkeypatch.setitem(globals(), "LAM", -3.0)
    assert dd(0.4) == pytest.approx(g(0.4), rel=1e-12)
    assert srcgrad.grad(srcgrad.grad(f))(0.4) == pytest.approx(g(0.4), rel=1e-12)


def test_rebinding_to_an_equal_number_keeps_the_transform(monkeypatch):
    d = srcgrad.value_and_grad(ridge)
    d(X)
    before = d.transformed
    monkeypatch.setitem(globals(), "LAM", float("10.0"))  # a new, equal object
    check(d, ridge, (X,))
    assert d.transformed is before
    monkeypatch.setitem(globals(), "LAM", 10)              # equal, but an int: transform again
    check(d, ridge, (X,))
    assert d.transformed is not before


# --------------------------------------------------------------------------- with jit
def test_jit_takes_globals_when_compiled_and_new_derivatives_see_changes(monkeypatch):
    jit_or_skip()
    old = srcgrad.value_and_grad(ridge, jit=True)
    check(old, ridge, (X,))
    monkeypatch.setitem(globals(), "LAM", 0.25)
    value, grad = old(X)                               # compiled with LAM = 10, as Numba
    assert value == pytest.approx(np.sum(X ** 2) * 10.0 + np.sum(X), rel=1e-12)
    assert grad == pytest.approx(2 * X * 10.0 + 1, rel=1e-12)
    new = srcgrad.value_and_grad(ridge, jit=True)
    check(new, ridge, (X,))
    assert srcgrad.grad(ridge, jit=True)(X) == pytest.approx(2 * X * 0.25 + 1, rel=1e-12)
    assert "10.0" in old.source and "0.25" in new.source    # each shows what it compiled


def test_jit_loop_function_new_derivative_sees_changes(monkeypatch):
    jit_or_skip()
    check(srcgrad.value_and_grad(looped, jit=True), looped, (X,))
    monkeypatch.setitem(globals(), "LAM", -1.5)
    monkeypatch.setitem(globals(), "ORDER", 2)
    check(srcgrad.value_and_grad(looped, jit=True), looped, (X,))


def test_jit_new_specialization_takes_the_globals_of_its_compile(monkeypatch):
    """Numba compiles each argument type when first met, reading globals then."""
    jit_or_skip()
    d = srcgrad.value_and_grad(ridge, jit=True)
    check(d, ridge, (X,))
    monkeypatch.setitem(globals(), "LAM", 7.0)
    x32 = X.astype(np.float32)
    value, grad = d(x32)
    assert value == pytest.approx(float(ridge(X)), rel=1e-5)
    assert np.allclose(grad, 2 * X * 7.0 + 1, rtol=1e-5)


def test_jit_closure_cell():
    jit_or_skip()
    scale = 2.0

    def f(x):
        return np.sum(x * x) * scale

    check(srcgrad.value_and_grad(f, jit=True), f, (X,))
    scale = -1.0
    check(srcgrad.value_and_grad(f, jit=True), f, (X,))


# --------------------------------------------------------------------------- the guard's cost
def test_the_per_call_guard_is_cheap():
    """The check run on every call: one identity test per binding read by the transform."""
    import timeit
    d = srcgrad.grad(looped)
    d(X)
    t = d.transformed
    assert t.is_current() and len(t.parsed.bindings.checks) >= 3
    per_call = min(timeit.repeat(t.is_current, number=2000, repeat=5)) / 2000
    assert per_call < 20e-6, per_call                  # ~1 µs here; generous for loaded CI


def test_forward_mode_and_hessian_follow_the_global(monkeypatch):
    tangent = np.array([1.0, 0.5, -2.0])
    hessian = srcgrad.hessian(ridge)                   # one object across the change
    for lam in (10.0, -0.5):
        monkeypatch.setitem(globals(), "LAM", lam)
        value, out = srcgrad.jvp(ridge, (X,), (tangent,))
        assert value == pytest.approx(ridge(X), rel=1e-12)
        assert out == pytest.approx(np.dot(2 * X * lam + 1, tangent), rel=1e-12)
        np.testing.assert_allclose(hessian(X), 2 * lam * np.eye(3), rtol=1e-12)
        _, pullback = srcgrad.vjp(ridge, X)
        np.testing.assert_allclose(pullback(1.0)[0], 2 * X * lam + 1, rtol=1e-12)


SETTINGS = types.SimpleNamespace(rate=0.5, power=2)


def tuned(x):
    return np.sum(x ** SETTINGS.power) * SETTINGS.rate


def test_attributes_of_an_object_are_read_when_the_derivative_runs():
    d = srcgrad.value_and_grad(tuned)
    check(d, tuned, (X,))
    old = (SETTINGS.rate, SETTINGS.power)
    try:
        SETTINGS.rate = -3.0
        check(d, tuned, (X,))
        SETTINGS.power = 3
        check(d, tuned, (X,))
    finally:
        SETTINGS.rate, SETTINGS.power = old
