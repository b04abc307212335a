"""Modular simulation code (tests/modular_programs.py) differentiated in every mode: the
user's functions and Numba kernels are lowered in place, so reverse mode, forward mode,
second order and jit all see one function.  Every result is checked against central
differences of the plain Python function."""

import numpy as np
import pytest

import modular_programs as mp
import srcgrad
from scipy import special as scipy_special
from tests.helpers import fresh_differences

RNG = np.random.default_rng(7)
X = np.array([0.3, -0.7, 1.2])
Y0 = np.array([0.6, -0.2])
P = np.array([1.7, 0.15])

CASES = [
    ("kernels", mp.spring_energy, (X, 2.0), (0, 1)),
    ("rk4-output-args", mp.pendulum_loss, (Y0, P), (0, 1)),
    ("euler-output-arg-in-loop", mp.euler_in_place, (Y0, P), (0, 1)),
    ("chain-three-deep", mp.chain_three_deep, (np.array([0.4, 1.6, -0.9, 2.5]), 1.3), (0, 1)),
    ("tuple-result", mp.tuple_helper, (X,), (0,)),
    ("logsumexp", mp.mixture_loglik, (np.array([0.1, 1.4, -0.8]), np.array([-1.0, 0.5, 2.0]),
                                      np.array([-0.4, -1.2, -2.0])), (1, 2)),
    ("pair-energy", mp.lennard_jones, (np.array([[0.0, 0.0], [1.1, 0.2], [0.3, 1.2]]),), (0,)),
    ("bound-method", mp.method_call, (X,), (0,)),
    ("grad-inside", mp.trajectory_loss, (X, 0.05), (0, 1)),
    ("grad-made-inside", mp.best_response, (X, np.array([0.2, 0.1, -0.3])), (0, 1)),
    ("hvp-made-inside", mp.newton_residual, (X,), (0,)),
    ("hvp-inside", mp.curvature_along, (X, np.array([1.0, 0.5, -0.2])), (0, 1)),
    ("jvp-inside", mp.directional_energy, (X, np.array([1.0, 0.5, -0.2])), (0, 1)),
    ("hessian-made-inside", mp.newton_step_norm, (X,), (0,)),
    ("hessian-inside", mp.scalar_curvature, (0.7,), (0,)),
    ("closure-passed", mp.decay_loss, (0.7, Y0), (0, 1)),
    ("lambda-passed", mp.lambda_passed, (0.7, X), (0, 1)),
    ("vjp-pullback-inside", mp.pullback_inside, (X, np.array([1.0, 2.0, -1.0]),
                                                 np.array([0.2, 0.4, -0.1])), (0, 1, 2)),
]
IDS = [c[0] for c in CASES]


def _plain(fn):
    return getattr(fn, "py_func", fn)


def _numeric_grad(fn, args, i):
    return fresh_differences(_plain(fn), args, i)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name, fn, args, wrt", CASES, ids=IDS)
def test_reverse_mode(name, fn, args, wrt, jit):
    value, grads = srcgrad.value_and_grad(fn, wrt=wrt, jit=jit)(*args)
    assert value == pytest.approx(_plain(fn)(*args), rel=1e-12)
    for i, g in zip(wrt, grads):
        np.testing.assert_allclose(g, _numeric_grad(fn, args, i), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name, fn, args, wrt", CASES, ids=IDS)
def test_forward_mode(name, fn, args, wrt, jit):
    tangents = [RNG.standard_normal(np.shape(a)) if i in wrt else np.zeros_like(a) * 0.0
                for i, a in enumerate(args)]
    tangents = [t if np.ndim(t) else float(t) for t in tangents]
    value, tangent = srcgrad.jvp(fn, args, tangents, jit=jit)
    expected = sum(np.sum(_numeric_grad(fn, args, i) * tangents[i]) for i in wrt)
    assert value == pytest.approx(_plain(fn)(*args), rel=1e-12)
    assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("name, fn, args, wrt", CASES, ids=IDS)
def test_second_order(name, fn, args, wrt):
    """Hessian-vector products (forward over reverse) against central differences of the
    gradient, itself checked above."""
    i = wrt[0]
    v = RNG.standard_normal(np.shape(args[i]))
    v = v if np.ndim(v) else float(v)
    hv = srcgrad.hvp(fn, wrt=i)(*args, v)
    gradient = srcgrad.grad(fn, wrt=i)
    eps = 1e-5
    up, down = list(args), list(args)
    up[i], down[i] = args[i] + eps * v, args[i] - eps * v
    expected = (np.asarray(gradient(*up)) - np.asarray(gradient(*down))) / (2 * eps)
    np.testing.assert_allclose(hv, expected, rtol=1e-5, atol=1e-7)


def test_callees_are_lowered_in_place():
    """One generated function, named values from the callees, no adjoint calls."""
    df = srcgrad.grad(mp.pendulum_loss, wrt=(0, 1))
    df(Y0, P)
    source = df.source
    assert source.count("def ") == 1 and source.count("_vjp(") == 1
    assert "pendulum_rhs" not in source and "rk4_step" in source     # the step's result


def test_an_error_inside_a_callee_names_the_call():
    def writes_its_argument(u):
        u[0] = 1.0
        return np.sum(u)

    def caller(x):
        return writes_its_argument(x) * 2.0

    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.grad(caller)(np.ones(3))
    text = str(info.value)
    assert "in 'writes_its_argument', called at" in text and "u[0] = 1.0" in text


def test_a_callee_without_source_or_rule_is_named_at_the_call():
    namespace = {}
    exec("def hidden(x):\n    return x * 2.0\n", namespace)
    hidden = namespace["hidden"]

    def caller(x):
        return hidden(x) * 2.0

    with pytest.raises(srcgrad.SrcgradError, match="the call of 'hidden' cannot be") as info:
        srcgrad.grad(caller)(0.5)
    assert "return hidden(x) * 2.0" in str(info.value)


def _uses_erfcx(x):
    return scipy_special.erfcx(x) + 1.0


def test_a_library_function_without_rule_inside_a_callee_is_named_fully():
    def caller(x):
        return _uses_erfcx(x) * 2.0

    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.grad(caller)(0.5)
    text = str(info.value)
    assert "'scipy.special.erfcx' is a library function and has no derivative rule" in text
    assert "in '_uses_erfcx', called at" in text


def test_a_nested_function_passed_on_may_not_write_its_definers_arrays():
    def fill(g, n):
        g(n)
        return n

    def caller(x):
        out = np.zeros(3)

        def write(n):
            out[0] = x * n
            return 0.0
        fill(write, 2.0)
        return np.sum(out)

    with pytest.raises(srcgrad.SrcgradError, match="'out', a variable of the function that "
                                                   "defined this nested function"):
        srcgrad.grad(caller)(0.5)
