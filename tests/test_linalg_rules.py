"""Linear algebra and product rules beyond the registry-driven checks: second derivatives
through each rule (hvp, forward over reverse and reverse over reverse, against central
differences of the gradient), the second derivatives that are refused, and the Numba
forms of the new rules on more than the first case of each primitive."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.linalg

import srcgrad
from srcgrad.errors import UnsupportedDerivativeError
from srcgrad.runtime import linalg_helpers
from tests.rule_cases import CASES  # first: it imports rule_cases_linalg itself
from tests import rule_cases_linalg  # noqa: I100
from tests.test_rules_end_to_end import compiled_case, generated  # noqa: F401  (fixture)

EPS = 1e-5

#: primitives whose second derivative is refused, and the helper named in the refusal
REFUSED = {np.linalg.multi_dot: "multi_dot_"}


def _norm_refused(case) -> bool:
    """The norm orders whose second derivative is refused (see two_norm_weight)."""
    ord_ = case.kwargs.get("ord")
    vector = np.ndim(case.make_args()[0]) == 1 or isinstance(case.kwargs.get("axis"), int)
    if ord_ is None or ord_ == "fro" or (vector and ord_ == 2):
        return False
    return ord_ not in ((0, 1, np.inf, -np.inf) if vector else (1, -1, np.inf, -np.inf))


MINE = [k for k, c in enumerate(CASES) if any(c is m for m in rule_cases_linalg.CASES)
        and not c.fn.__module__.startswith("srcgrad.runtime")]
SECOND = [k for k in MINE if CASES[k].fn not in REFUSED
          and not (CASES[k].fn is np.linalg.norm and _norm_refused(CASES[k]))]


def _numeric_hvp(gradient, args, i, v):
    plus, minus = list(args), list(args)
    plus[i] = args[i] + EPS * v
    minus[i] = args[i] - EPS * v
    return (np.asarray(gradient(*plus)) - np.asarray(gradient(*minus))) / (2 * EPS)


@pytest.mark.parametrize("k", SECOND, ids=[CASES[k].id for k in SECOND])
def test_second_order_through_the_rule(generated, k):  # noqa: F811
    f, full, wrt = compiled_case(generated, k)
    i = next(i for i in wrt if isinstance(full[i], np.ndarray))
    v = np.random.default_rng(k).standard_normal(np.shape(full[i]))
    gradient = srcgrad.grad(f, wrt=i)
    want = _numeric_hvp(gradient, full, i, v)
    scale = 1.0 + np.max(np.abs(want))
    forward = srcgrad.hvp(f, i)(*full, v)
    np.testing.assert_allclose(forward, want, rtol=1e-5, atol=1e-6 * scale, err_msg=CASES[k].id)
    _, pullback = srcgrad.vjp(gradient, *full)
    np.testing.assert_allclose(pullback(v)[i], want, rtol=1e-5, atol=1e-6 * scale,
                               err_msg=CASES[k].id)


REFUSED_CASES = [k for k in MINE if k not in SECOND]


@pytest.mark.parametrize("k", REFUSED_CASES, ids=[CASES[k].id for k in REFUSED_CASES])
def test_refused_second_order_says_so(generated, k):  # noqa: F811
    f, full, wrt = compiled_case(generated, k)
    i = next(i for i in wrt if isinstance(full[i], np.ndarray))
    v = np.ones(np.shape(full[i]))
    srcgrad.grad(f, wrt=i)(*full)                       # the first derivative works
    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.hvp(f, i)(*full, v)
    named = REFUSED.get(CASES[k].fn, "ord=")
    assert named in str(info.value), str(info.value)


def test_the_suites_are_not_empty():
    assert len(SECOND) > 40 and len(REFUSED_CASES) >= 6


# --------------------------------------------------------------------------- values

def test_einsum_cotangents_on_diagonals_and_summed_axes():
    a = np.arange(9.0).reshape(3, 3)
    g = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(linalg_helpers.einsum_grad_a(g, "ii->i", a), np.diag(g))
    np.testing.assert_array_equal(linalg_helpers.einsum_grad_a(2.0, "ii", a), 2.0 * np.eye(3))
    np.testing.assert_array_equal(linalg_helpers.einsum_grad_a(g, "ij->i", a),
                                  np.repeat(g[:, None], 3, axis=1))
    with pytest.raises(srcgrad.SrcgradError, match="ellipsis"):
        linalg_helpers.einsum_grad_a(g, "...i->...", a)


def test_einsum_with_three_operands_is_refused_at_its_line():
    def three(a, b, c):
        return np.sum(np.einsum("ij,jk,kl->il", a, b, c))

    with pytest.raises(srcgrad.SrcgradError, match="einsum"):
        srcgrad.grad(three)(np.eye(2), np.eye(2), np.eye(2))


def test_solve_triangular_reads_one_triangle():
    a = np.triu(np.arange(1.0, 10.0).reshape(3, 3)) + 3 * np.eye(3)
    b = np.array([1.0, -2.0, 0.5])

    def f(a, b):
        return np.sum(scipy.linalg.solve_triangular(a, b) ** 2)

    da = srcgrad.grad(f)(a, b)
    assert np.all(np.tril(da, -1) == 0.0)         # the lower triangle is never read


def test_cholesky_gradient_is_on_the_lower_triangle():
    a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])

    def f(a):
        return np.sum(np.linalg.cholesky(a))

    da = srcgrad.grad(f)(a)
    assert np.all(np.triu(da, 1) == 0.0)


def test_eigvalsh_gradient_is_the_projector():
    w, v = np.linalg.eigh(np.diag([1.0, 2.0, 4.0]) + 0.1)

    def largest(a):
        return np.linalg.eigvalsh(a)[2]

    got = srcgrad.grad(largest)(np.diag([1.0, 2.0, 4.0]) + 0.1)
    want = np.outer(v[:, 2], v[:, 2])
    np.testing.assert_allclose(got, np.tril(want) + np.tril(want, -1), atol=1e-12)


def test_rules_show_their_math():
    def f(a):
        return np.sum(np.linalg.matrix_power(a, 3))

    text = srcgrad.show(f, file=io.StringIO())
    assert "upper_right(np.linalg.matrix_power(frechet_pair(mT(a), " in text


# --------------------------------------------------------------------------- under jit

def _numba_limit(case) -> str | None:
    """Why Numba cannot compile the derivative of this case, or None if it can."""
    from srcgrad.rules import registry
    if registry.lookup(case.fn).no_jit:
        return registry.lookup(case.fn).no_jit
    arrays = [a for a in case.make_args() if isinstance(a, np.ndarray)]
    arrays += [a for x in case.make_args() if isinstance(x, list) for a in x]
    if any(a.ndim > 2 for a in arrays):
        return "a stack of matrices: Numba's np.linalg takes one matrix"
    if case.kwargs.get("axis") is not None or case.kwargs.get("ord") == "nuc":
        return "Numba's np.linalg.norm takes neither axis nor ord='nuc'"
    if len({a.ndim for a in arrays}) > 1 and case.fn in (np.kron, np.linalg.multi_dot):
        return "operands of different ranks"
    if case.fn is np.tensordot and isinstance(case.kwargs.get("axes"), tuple):
        return "np.tensordot under jit takes an integer axes"
    if case.fn is np.linalg.eigh and len(case.args) > 1:
        return ("Numba's eigh takes no UPLO (and eigenvectors of the upper triangle may "
                "differ in sign from NumPy's)")
    return None


JIT = [k for k in MINE if _numba_limit(CASES[k]) is None]


@pytest.mark.parametrize("k", JIT, ids=[CASES[k].id for k in JIT])
def test_case_under_jit(generated, k):  # noqa: F811
    f, full, wrt = compiled_case(generated, k)
    wrt = tuple(i for i in wrt if isinstance(full[i], np.ndarray))
    got = srcgrad.value_and_grad(f, wrt=wrt, jit=True)(*full)
    want = srcgrad.value_and_grad(f, wrt=wrt)(*full)
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=CASES[k].id)


def test_jit_covers_every_new_primitive_without_no_jit():
    from srcgrad.rules import registry
    covered = {CASES[k].fn for k in JIT}
    for case in rule_cases_linalg.CASES:
        if not case.fn.__module__.startswith("srcgrad.runtime") and \
                not registry.lookup(case.fn).no_jit:
            assert case.fn in covered, case.id


# --------------------------------------------------------------------------- factorizations

def factorization_loss(a, b):
    """A user's loss through the thin SVD, QR and least squares of one matrix."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    q, r = np.linalg.qr(a)
    x, res, rank, sv = np.linalg.lstsq(a, b, rcond=None)
    low_rank = (u[:, :2] * s[:2]) @ vh[:2, :]
    return (np.sum((low_rank - a) ** 2) + np.sum(np.abs(u[:, 0]) * b) + np.sum(np.diag(r) ** 2)
            + np.sum(q[:, 1] * b) + np.sum(x ** 2) + 0.5 * np.sum(res) + np.sum(sv) * rank
            + np.sum(np.linalg.svd(a, compute_uv=False) ** 3))


def _central(f, args, i, eps=1e-6):
    out = np.zeros_like(args[i])
    for index in np.ndindex(out.shape):
        plus, minus = [x.copy() for x in args], [x.copy() for x in args]
        plus[i][index] += eps
        minus[i][index] -= eps
        out[index] = (f(*plus) - f(*minus)) / (2 * eps)
    return out


@pytest.mark.parametrize("jit", [False, True])
def test_factorizations_in_a_loss(jit):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((6, 3)) + np.eye(6, 3) * np.array([3.0, 2.0, 1.0])
    b = rng.standard_normal(6)
    got = srcgrad.grad(factorization_loss, wrt=(0, 1), jit=jit)(a, b)
    for i in (0, 1):
        np.testing.assert_allclose(got[i], _central(factorization_loss, [a, b], i),
                                   rtol=1e-6, atol=1e-7)


def svd_full(a):
    u, s, vh = np.linalg.svd(a)
    return np.sum(u[:, 0] ** 2 * a[:, 0]) + np.sum(s)


def qr_wide(a):
    q, r = np.linalg.qr(a)
    return np.sum(r)


def lstsq_deficient(a, b):
    x, res, rank, sv = np.linalg.lstsq(a, b, rcond=None)
    return np.sum(x)


@pytest.mark.parametrize("jit", [False, True])
def test_unsupported_factorization_forms_are_refused(jit):
    rng = np.random.default_rng(3)
    with pytest.raises(UnsupportedDerivativeError, match="full_matrices=False"):
        srcgrad.grad(svd_full, jit=jit)(rng.standard_normal((4, 3)))
    with pytest.raises(UnsupportedDerivativeError, match="m >= n"):
        srcgrad.grad(qr_wide, jit=jit)(rng.standard_normal((3, 4)))
    a = rng.standard_normal((5, 2))
    with pytest.raises(UnsupportedDerivativeError, match="full rank"):
        srcgrad.grad(lstsq_deficient, jit=jit)(np.hstack([a, a[:, :1]]), np.ones(5))
    square = rng.standard_normal((3, 3))       # full_matrices=True is the thin form here
    np.testing.assert_allclose(srcgrad.grad(svd_full, jit=jit)(square),
                               _central(svd_full, [square], 0), rtol=1e-6, atol=1e-7)


def qr_complete(a):
    q, r = np.linalg.qr(a, mode="complete")
    return np.sum(q)


def test_qr_modes_other_than_reduced_are_refused_at_their_line():
    with pytest.raises(srcgrad.SrcgradError, match="mode='reduced'"):
        srcgrad.grad(qr_complete)(np.eye(3))


def _slogdet_steps(w):
    total = 0.0
    for k in range(3):
        sign, logdet = np.linalg.slogdet(w @ w.T + (1.0 + k) * np.eye(2))
        vals, vecs = np.linalg.eigh(w @ w.T + np.eye(2))
        w = w * (1.0 + 0.1 * logdet) + 0.05 * vals[-1] * vecs[:, :1]
        total += sign * logdet
    return total + np.sum(w ** 2)


@pytest.mark.parametrize("jit", [False, True])
def test_tuple_results_recorded_in_a_loop(jit):
    """A tuple of results used in a loop is recorded for the reverse sweep: a plain list
    that Numba types from its appends (there is no typed stack of tuples)."""
    from tests.helpers import numeric_grad
    w = np.random.default_rng(2).standard_normal((2, 3))
    value, grad = srcgrad.value_and_grad(_slogdet_steps, jit=jit)(w)
    assert value == pytest.approx(_slogdet_steps(w), rel=1e-12)
    np.testing.assert_allclose(grad, numeric_grad(_slogdet_steps, (w,), 0), rtol=1e-6, atol=1e-8)


def _qr_complete_of_a_constant(a, x):
    q, r = np.linalg.qr(a, mode="complete")
    return np.sum((q @ x) ** 2) + np.sum(r)


def test_qr_in_another_mode_runs_where_nothing_differentiated_reaches_it():
    a = np.random.default_rng(3).standard_normal((4, 3))
    x = np.array([0.5, -1.0, 2.0, 0.3])
    value, grad = srcgrad.value_and_grad(_qr_complete_of_a_constant, 1)(a, x)
    assert value == pytest.approx(_qr_complete_of_a_constant(a, x), rel=1e-12)
    np.testing.assert_allclose(grad, 2.0 * x, rtol=1e-12)      # q is orthogonal
