"""Every program that once gave a silently wrong value or gradient, in both backends and
in forward mode: the value equals Python's, the gradient central differences."""

import numpy as np
import pytest

import srcgrad
from helpers import assert_grad, numeric_grad
from regression_programs import CALLS_HELPERS, REFUSED, SCALAR, VECTOR, buffer_made_from_a_row_view

X = np.array([0.3, 0.7, 1.1])
M = np.array([[0.3, 0.7, 1.1], [-0.4, 0.2, 0.5]])
CASES = [(f, x) for f, x in SCALAR] + [(f, X) for f in VECTOR] + [(buffer_made_from_a_row_view, M)]
IDS = [f"{f.__name__}-{x}" if np.ndim(x) == 0 else f.__name__ for f, x in CASES]


@pytest.mark.parametrize("f, x", CASES, ids=IDS)
def test_value_and_gradient(f, x):
    assert_grad(f, (x,))


@pytest.mark.parametrize("f, x", [c for c in CASES if c[0] not in CALLS_HELPERS],
                         ids=[i for i, c in zip(IDS, CASES) if c[0] not in CALLS_HELPERS])
def test_jit_agrees(f, x):
    value, grad = srcgrad.value_and_grad(f, jit=True)(x)
    expected = f(x.copy() if isinstance(x, np.ndarray) else x)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, numeric_grad(f, (x,), 0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, x", [c for c in CASES if c[0] not in CALLS_HELPERS],
                         ids=[i for i, c in zip(IDS, CASES) if c[0] not in CALLS_HELPERS])
def test_forward_mode_agrees(f, x):
    tangent = np.linspace(0.5, 1.5, np.size(x)).reshape(np.shape(x))
    tangent = tangent if isinstance(x, np.ndarray) else float(tangent)
    value, out = srcgrad.jvp(f, (x,), (tangent,))
    np.testing.assert_allclose(value, f(x.copy() if isinstance(x, np.ndarray) else x), rtol=1e-12)
    expected = np.sum(numeric_grad(f, (x,), 0) * tangent)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, line", REFUSED, ids=[f.__name__ for f, _ in REFUSED])
def test_uncertain_aliases_are_refused_at_their_line(f, line):
    with pytest.raises(srcgrad.errors.AliasingError) as info:
        srcgrad.grad(f)(X.copy())
    assert line in str(info.value) and "regression_programs.py" in str(info.value)
