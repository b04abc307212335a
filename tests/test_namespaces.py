"""Modules as values (``xp=np``, ``import numpy as xp``, ``from numpy import sin``,
``np.linalg`` bound to a name), functions passed as arguments, and calls without a rule
that no derivative reaches: resolved when the derivative is generated, in every mode."""

import numpy as np
import pytest

import namespace_programs as npg
import srcgrad
from tests.helpers import fresh_differences

X = np.array([0.3, -0.7, 1.2])
W = np.array([1.0, -2.0, 0.5])


CASES = [
    ("xp-default", npg.namespace_default, (X,)),
    ("xp-passed", npg.namespace_default, (X, np)),
    ("module-alias", npg.module_alias, (X,)),
    ("imported-names", npg.imported_names, (X,)),
    ("submodule-bound", npg.submodule_bound, (X,)),
    ("function-default", npg.activation, (W, X)),
    ("ufunc-passed", npg.activation, (W, X, np.sin)),
    ("function-passed", npg.activation, (W, X, npg.half_square)),
    ("inactive-call", npg.inactive_call, (0.7, 3)),
    ("inactive-library-call", npg.inactive_library_call, (X,)),
    ("lists-of-values", npg.lists_of_values, (X,)),
]


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name, fn, args", CASES, ids=[c[0] for c in CASES])
def test_reverse_and_forward(name, fn, args, jit):
    if jit and fn is npg.inactive_library_call:     # Numba cannot compile scipy.special.erfcx
        with pytest.raises(srcgrad.SrcgradError, match="Numba could not compile"):
            srcgrad.grad(fn, jit=True)(*args)
        return
    value, g = srcgrad.value_and_grad(fn, jit=jit)(*args)
    assert value == pytest.approx(fn(*args), rel=1e-12)
    expected = fresh_differences(fn, args, 0)
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)
    v = np.linspace(0.5, -0.5, np.size(args[0])).reshape(np.shape(args[0]))
    v = v if np.ndim(v) else float(v)
    tangents = (v,) + tuple(np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0
                            for a in args[1:])
    _, tangent = srcgrad.jvp(fn, args, tangents, jit=jit)
    assert tangent == pytest.approx(np.sum(expected * v), rel=1e-6, abs=1e-8)


def test_each_module_or_function_gets_its_own_derivative():
    df = srcgrad.grad(npg.activation)
    for act in (np.tanh, np.sin, npg.half_square):
        np.testing.assert_allclose(df(W, X, act), fresh_differences(npg.activation, (W, X, act), 0),
                                   rtol=1e-6, atol=1e-8)


def test_a_module_argument_cannot_be_differentiated():
    with pytest.raises(srcgrad.SrcgradError, match="'act': it is a ufunc"):
        srcgrad.grad(npg.activation, wrt=2)(W, X, np.tanh)


def test_a_derivative_reaching_a_call_without_rule_is_refused_at_its_line():
    with pytest.raises(srcgrad.SrcgradError, match="'scipy.special.erfcx' is a library") as info:
        srcgrad.grad(npg.active_call_without_rule)(X)
    assert "return np.sum(scipy.special.erfcx(x))" in str(info.value)


def test_a_submodule_function_is_named_as_the_user_wrote_it():
    """np.fft has no rules (its values are complex): refused at the line, by its full name."""
    with pytest.raises(srcgrad.SrcgradError, match="'np.fft.fft' is a library function") as info:
        srcgrad.grad(npg.spectrum_power)(X)
    assert "np.abs(np.fft.fft(x))" in str(info.value)


def test_a_global_array_read_for_its_shape_in_second_order():
    """The gradient passes the global array to unreduce, which reads its shape only: it
    was an internal error (an operand lowering did not turn into a constant)."""
    x = np.array([0.1, 0.5, 0.9])
    gradient = srcgrad.grad(npg.global_array_integrated)
    want = fresh_differences(lambda x: gradient(x) @ np.ones(3), (x,), 0)
    np.testing.assert_allclose(srcgrad.hvp(npg.global_array_integrated)(x, np.ones(3)), want,
                               rtol=1e-6, atol=1e-8)
