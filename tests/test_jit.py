"""jit=True agrees with jit=False on the whole control-flow corpus.

Every function of tests/test_control_flow.py is differentiated twice: once as plain
Python, once compiled with Numba in nopython mode from the same generated text.  The
gradients must agree to 1e-12 relative.  Functions Numba cannot compile must fail with a
SrcgradError that says so (never a wrong number); the ones known to need Python are
listed with the reason.
"""

from __future__ import annotations

import numpy as np
import pytest

import srcgrad
from tests.test_control_flow import CASES

pytest.importorskip("numba")


def _close(a, b, rtol):
    if isinstance(a, tuple):
        return all(_close(x, y, rtol) for x, y in zip(a, b))
    return np.allclose(a, b, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("f, args, wrt, kw", CASES)
def test_jit_matches_python(f, args, wrt, kw):
    expected = srcgrad.grad(f, wrt=wrt)(*args)
    try:
        got = srcgrad.grad(f, wrt=wrt, jit=True)(*args)
    except srcgrad.SrcgradError as exc:
        assert "Numba" in str(exc)
        pytest.skip(f"not compilable with Numba: {str(exc).splitlines()[0][:120]}")
    single = any(np.asarray(a).dtype == np.float32 for a in args)
    # float32 arithmetic is rounded per operation; Numba and NumPy may order it differently
    assert _close(got, expected, 1e-5 if single else 1e-12), (got, expected)


def repeated_along_axis(X):
    m = np.repeat(X, 2, axis=1)  # <- Numba's np.repeat takes no axis
    return np.sum(m * m)


def test_numba_refusal_points_at_the_users_line():
    import inspect
    lines, first = inspect.getsourcelines(repeated_along_axis)
    marked = first + next(i for i, text in enumerate(lines) if "# <-" in text)
    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.grad(repeated_along_axis, jit=True)(np.ones((3, 4)))
    message = str(info.value)
    assert "Numba" in message and "jit=False" in message
    assert f"line {marked}" in message and __file__.rsplit("/", 1)[-1] in message


def test_jit_python_and_numba_share_the_generated_text():
    from tests.test_control_flow import product_recurrence, X5
    plain = srcgrad.grad(product_recurrence)
    compiled = srcgrad.grad(product_recurrence, jit=True)
    np.testing.assert_allclose(compiled(X5), plain(X5), rtol=1e-12)
    assert compiled.source == plain.source
