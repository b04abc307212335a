"""Derivatives of derivatives: grad of grad, hvp, hessian, jacobian of a gradient.

The generated gradient is itself differentiated, tape operations included, both forward
over reverse (``hvp``, ``hessian``) and reverse over reverse (``grad(grad(f))``,
``vjp``/``jacobian`` of ``grad(f)``).  References are central differences of the
first-order gradient (itself checked against differences of ``f`` in
test_control_flow.py) and, for Rosenbrock and Lennard-Jones, analytic Hessians.
"""

from __future__ import annotations

import numpy as np
import pytest

import srcgrad
from tests import test_control_flow as cf

EPS = 1e-5


def _positions(f, wrt):
    import inspect
    names = list(inspect.signature(f).parameters)
    items = wrt if isinstance(wrt, (tuple, list)) else (wrt,)
    return [names.index(w) if isinstance(w, str) else w for w in items]


def _numeric_hvp(gradient, args, position, v):
    """(g(x + eps v) - g(x - eps v)) / (2 eps), in float64."""
    plus, minus = list(args), list(args)
    plus[position] = args[position] + EPS * v
    minus[position] = args[position] - EPS * v
    return (np.asarray(gradient(*plus), float) - np.asarray(gradient(*minus), float)) / (2 * EPS)


def _direction(x, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(np.shape(x)) if np.ndim(x) else float(rng.standard_normal())


SECOND_ORDER = [p for p in cf.CASES if "float32" not in p.id and "f32" not in p.id]


@pytest.mark.parametrize("f, args, wrt, kw", SECOND_ORDER)
def test_hvp_over_the_control_flow_corpus(f, args, wrt, kw):
    """Forward over reverse and reverse over reverse both give H v."""
    position = _positions(f, wrt)[0]
    x = args[position]
    if not (isinstance(x, float) or (isinstance(x, np.ndarray) and x.dtype == np.float64)):
        pytest.skip("second order is checked for float64 inputs")
    v = _direction(x)
    gradient = srcgrad.grad(f, position)
    want = _numeric_hvp(gradient, args, position, v)
    scale = 1.0 + np.max(np.abs(want))
    forward = srcgrad.hvp(f, position)(*args, v)
    np.testing.assert_allclose(forward, want, rtol=1e-5, atol=1e-6 * scale)
    _, pullback = srcgrad.vjp(gradient, *args)
    reverse = pullback(v)[position]           # H is symmetric: H^T v = H v
    np.testing.assert_allclose(reverse, want, rtol=1e-5, atol=1e-6 * scale)


def test_unsupported_second_order_is_refused_loudly():
    def squares_of_a_list(x):
        items = []
        for i in range(3):
            items.append(x * i)        # add_stacked (its adjoint helper) has no rule yet
        return np.sum(np.stack(items) ** 2)
    gradient = srcgrad.grad(squares_of_a_list)
    with pytest.raises(srcgrad.SrcgradError, match="add_stacked") as info:
        srcgrad.jvp(gradient, (np.ones(3),), (np.ones(3),))
    assert "higher-order" in str(info.value) and "<srcgrad" not in str(info.value)
    assert info.value.loc.text.strip().startswith("items.append(x * i)")


# --------------------------------------------------------------------------- analytic Hessians
def rosenbrock(x):
    total = 0.0
    for i in range(x.shape[0] - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def rosenbrock_hessian(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i, i + 1] += -400.0 * x[i]
        H[i + 1, i] += -400.0 * x[i]
        H[i + 1, i + 1] += 200.0
    return H


def lennard_jones(pos):
    energy = 0.0
    n = pos.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            d = pos[i] - pos[j]
            r2 = np.dot(d, d)
            inv6 = 1.0 / r2 ** 3
            energy += 4.0 * (inv6 * inv6 - inv6)
    return energy


def lennard_jones_hessian(pos):
    """E = sum phi(|d|^2), phi(s) = 4 (s^-6 - s^-3): d2/dd2 = 2 phi'(s) I + 4 phi''(s) d d^T."""
    n = pos.shape[0]
    H = np.zeros((n, 3, n, 3))
    for i in range(n):
        for j in range(i + 1, n):
            d = pos[i] - pos[j]
            s = d @ d
            d1 = 4.0 * (-6.0 * s ** -7 + 3.0 * s ** -4)
            d2 = 4.0 * (42.0 * s ** -8 - 12.0 * s ** -5)
            block = 2.0 * d1 * np.eye(3) + 4.0 * d2 * np.outer(d, d)
            H[i, :, i, :] += block
            H[j, :, j, :] += block
            H[i, :, j, :] -= block
            H[j, :, i, :] -= block
    return H


X_ROSEN = np.array([-1.2, 1.0, 0.4, -0.3, 0.9, 1.1])
_grid = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], float) * 1.12
POSITIONS = _grid + 0.05 * np.random.default_rng(7).standard_normal(_grid.shape)


@pytest.mark.parametrize("jit", [False, True])
def test_hessian_of_rosenbrock_is_analytic(jit):
    H = srcgrad.hessian(rosenbrock, jit=jit)(X_ROSEN)
    np.testing.assert_allclose(H, rosenbrock_hessian(X_ROSEN), rtol=1e-12, atol=1e-9)
    v = np.linspace(-1.0, 1.0, X_ROSEN.size)
    np.testing.assert_allclose(srcgrad.hvp(rosenbrock, jit=jit)(X_ROSEN, v),
                               rosenbrock_hessian(X_ROSEN) @ v, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("jit", [False, True])
def test_hessian_of_lennard_jones_is_analytic(jit):
    H = srcgrad.hessian(lennard_jones, jit=jit)(POSITIONS)
    want = lennard_jones_hessian(POSITIONS)
    assert H.shape == (5, 3, 5, 3)
    np.testing.assert_allclose(H, want, rtol=1e-10, atol=1e-8 * np.abs(want).max())


def test_hessian_by_reverse_over_reverse_matches():
    """jacobian (rows by vjp) of the gradient: reverse over reverse."""
    H = srcgrad.jacobian(srcgrad.grad(lennard_jones))(POSITIONS)
    want = lennard_jones_hessian(POSITIONS)
    np.testing.assert_allclose(H, want, rtol=1e-10, atol=1e-8 * np.abs(want).max())


# --------------------------------------------------------------------------- grad of grad
def newton_sqrt(a):
    """sqrt(a) by Newton's iteration: a while loop whose trips are recorded on the tape."""
    x = a
    k = 0
    while k < 8:
        x = 0.5 * (x + a / x)
        k += 1
    return x


def branchy_power(x):
    """x**4 for x > 0 (built in a loop with a branch per step), -x**3 otherwise."""
    y = 1.0
    for k in range(4):
        if x > 0:
            y = y * x
        elif k < 3:
            y = -y * x
    return y


@pytest.mark.parametrize("jit", [False, True])
def test_grad_of_grad_through_while_loop(jit):
    d2 = srcgrad.grad(srcgrad.grad(newton_sqrt, jit=jit), jit=jit)
    a = 2.3
    assert d2(a) == pytest.approx(-0.25 * a ** -1.5, rel=1e-10)


@pytest.mark.parametrize("x, second, third", [(0.7, 12 * 0.7 ** 2, 24 * 0.7),
                                               (-0.6, 6 * 0.6, -6.0)])
def test_grad_of_grad_of_grad_through_branches(x, second, third):
    d2 = srcgrad.grad(srcgrad.grad(branchy_power))
    d3 = srcgrad.grad(d2)
    assert d2(x) == pytest.approx(second, rel=1e-12)
    assert d3(x) == pytest.approx(third, rel=1e-12)


def test_value_and_grad_of_a_gradient():
    gradient = srcgrad.grad(newton_sqrt)
    value, d2 = srcgrad.value_and_grad(gradient)(2.0)
    assert value == pytest.approx(0.5 / np.sqrt(2.0), rel=1e-12)
    assert d2 == pytest.approx(-0.25 * 2.0 ** -1.5, rel=1e-10)


def test_show_prints_the_second_order_program():
    d2 = srcgrad.grad(srcgrad.grad(newton_sqrt))
    d2(2.0)
    text = srcgrad.show(d2, file=open("/dev/null", "w"))
    assert text.startswith("def newton_sqrt_grad_vjp(a, seed")
    assert ".pop()" in text and ".append(" in text


JIT_SAMPLE = {"while_doubling-0.7", "loop_in_loop_products", "if_in_loop", "for_in_while-several",
              "search_break-found", "continue_and_break-break", "return_in_while-early",
              "stencil_zeros", "while_store", "int_array_index"}


@pytest.mark.parametrize("f, args, wrt, kw", [p for p in SECOND_ORDER if p.id in JIT_SAMPLE])
def test_hvp_with_jit_agrees(f, args, wrt, kw):
    """The second-order programs compile with Numba and agree with plain Python."""
    position = _positions(f, wrt)[0]
    v = _direction(args[position], seed=3)
    python = srcgrad.hvp(f, position)(*args, v)
    compiled = srcgrad.hvp(f, position, jit=True)(*args, v)
    np.testing.assert_allclose(compiled, python, rtol=1e-12, atol=1e-12)
    _, pullback = srcgrad.vjp(srcgrad.grad(f, position), *args, jit=True)   # reverse over reverse
    np.testing.assert_allclose(pullback(v)[position], python, rtol=1e-10, atol=1e-10)
