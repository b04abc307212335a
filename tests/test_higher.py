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


# np.array of a list of differentiated scalars: its adjoint helper (unarray) has no rule yet
REFUSED = {"scalars_to_array"}
SECOND_ORDER = [p for p in cf.CASES if "float32" not in p.id and "f32" not in p.id
                and p.id not in REFUSED]


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
    gradient = srcgrad.grad(cf.scalars_to_array, (0, 1))
    with pytest.raises(srcgrad.SrcgradError, match="unarray") as info:
        srcgrad.jvp(gradient, (0.3, 0.7), (1.0, 0.0))
    assert "higher-order" in str(info.value)
