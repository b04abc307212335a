"""Forward mode: jvp against central differences, and the dot-product test
<v, J t> (jvp) == <J^T v, t> (vjp) over the rule registry and the control-flow corpus."""

from __future__ import annotations

import io

import numpy as np
import pytest

import srcgrad
from tests.helpers import numeric_grad
from tests.test_control_flow import CASES as FLOW_CASES
from tests.test_rules_end_to_end import compiled_case, generated  # noqa: F401  (fixture)
from tests.rule_cases import CASES as RULE_CASES


def _tangents(args, seed):
    rng = np.random.default_rng(seed)
    out = []
    for a in args:
        if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating):
            out.append(rng.standard_normal(a.shape).astype(a.dtype))
        elif isinstance(a, (float, np.floating)):
            out.append(type(a)(rng.standard_normal()))
        elif isinstance(a, (list, tuple)):   # read for its structure only (a helper's
            # argument, the weights of a tuple of results)
            out.append(type(a)(np.zeros_like(v) if isinstance(v, np.ndarray) else 0.0 for v in a))
        else:
            out.append(0.0)
    return out


def _is_float(a):
    return isinstance(a, (float, np.floating)) or (
        isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating))


def _dot_product_check(f, args, rtol):
    tangents = _tangents(args, 3)
    out, tangent_out = srcgrad.jvp(f, args, tangents)
    np.testing.assert_allclose(out, f(*args), rtol=1e-12)
    _, pullback = srcgrad.vjp(f, *args)
    rng = np.random.default_rng(4)
    v = rng.standard_normal(np.shape(out)) if np.ndim(out) else 1.0
    cts = pullback(v)
    lhs = float(np.sum(v * np.asarray(tangent_out)))
    rhs = sum(float(np.sum(c * t)) for c, t, a in zip(cts, tangents, args) if c is not None and _is_float(a))
    assert lhs == pytest.approx(rhs, rel=rtol, abs=1e-10)


@pytest.mark.parametrize("f, args, wrt, kw", FLOW_CASES)
def test_dot_product_control_flow(f, args, wrt, kw):
    single = any(np.asarray(a).dtype == np.float32 for a in args)
    _dot_product_check(f, args, 1e-4 if single else 1e-9)


@pytest.mark.parametrize("k", range(len(RULE_CASES)), ids=[c.id for c in RULE_CASES])
def test_dot_product_rules(generated, k):  # noqa: F811
    f, args, _ = compiled_case(generated, k)
    _dot_product_check(f, args, 1e-9)


def euler(y0, k):
    y = y0
    for i in range(200):
        y = y + 0.01 * (-k * y + np.sin(y))
    return y


def vector_field(x, A):
    v = x.copy()
    for i in range(3):
        v = np.tanh(A @ v) + v
    return v


def test_jvp_matches_central_differences():
    y0, k = 0.4, 1.3
    _, t = srcgrad.jvp(euler, (y0, k), (0.0, 1.0))
    assert t == pytest.approx(numeric_grad(euler, [y0, k], 1), rel=1e-7)
    x = np.array([0.1, -0.3, 0.5])
    A = np.arange(9.0).reshape(3, 3) / 10.0
    e = np.array([0.0, 1.0, 0.0])
    _, t = srcgrad.jvp(vector_field, (x, A), (e, np.zeros_like(A)))
    eps = 1e-6
    fd = (vector_field(x + eps * e, A) - vector_field(x - eps * e, A)) / (2 * eps)
    np.testing.assert_allclose(t, fd, rtol=1e-7, atol=1e-9)


def test_show_forward_mode():
    text = srcgrad.show(euler, mode="forward")
    assert text.startswith("def euler_jvp(y0, k, y0_dot, k_dot):")
    assert "y_dot" in text and ".append(" not in text and "stack" not in text


def test_jvp_with_jit_agrees():
    pytest.importorskip("numba")
    x = np.array([0.1, -0.3, 0.5])
    A = np.arange(9.0).reshape(3, 3) / 10.0
    tangents = (np.array([1.0, 2.0, 3.0]), np.ones_like(A))
    plain = srcgrad.jvp(vector_field, (x, A), tangents)
    compiled = srcgrad.jvp(vector_field, (x, A), tangents, jit=True)
    np.testing.assert_allclose(compiled[1], plain[1], rtol=1e-12)
    plain = srcgrad.jvp(euler, (0.4, 1.3), (1.0, 0.5))
    compiled = srcgrad.jvp(euler, (0.4, 1.3), (1.0, 0.5), jit=True)
    assert compiled[1] == pytest.approx(plain[1], rel=1e-12)


def test_jvp_tangent_shape_is_checked():
    with pytest.raises(srcgrad.SrcgradError, match="shape"):
        srcgrad.jvp(vector_field, (np.ones(3), np.eye(3)), (np.ones(2), np.eye(3)))


def test_jacobian_by_rows_and_by_columns_agree_with_differences():
    x = np.array([0.1, -0.3, 0.5])
    A = np.arange(9.0).reshape(3, 3) / 10.0
    J_rev = srcgrad.jacobian(vector_field)(x, A)
    J_fwd = srcgrad.jacfwd(vector_field)(x, A)
    eps = 1e-6
    fd = np.stack([(vector_field(x + eps * e, A) - vector_field(x - eps * e, A)) / (2 * eps)
                   for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(J_rev, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(J_fwd, J_rev, rtol=1e-12, atol=1e-14)
    JA = srcgrad.jacobian(vector_field, wrt=1)(x, A)
    assert JA.shape == (3, 3, 3)
    np.testing.assert_allclose(JA, srcgrad.jacfwd(vector_field, wrt="A")(x, A), rtol=1e-10, atol=1e-12)


def _halve_until_small(x):
    while x > 1.0:
        x = np.sin(x) * x * 0.5
    return x


def test_forward_mode_keeps_no_trip_counter_nobody_reads():
    """Forward mode needs no tape, so the while loop's trip count is dead code; an array
    updated with += is never taken for such a counter (another name may share it)."""
    srcgrad.jvp(_halve_until_small, (30.0,), (1.0,))
    source = srcgrad.show(_halve_until_small, mode="forward", file=io.StringIO())
    assert "trips" not in source and "while True" in source
    value, tangent = srcgrad.jvp(_halve_until_small, (30.0,), (1.0,))
    eps = 1e-6
    assert np.isclose(tangent, (_halve_until_small(30.0 + eps) - _halve_until_small(30.0 - eps)) / (2 * eps),
                      rtol=1e-5)
