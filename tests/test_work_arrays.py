"""Integer and boolean arrays written in place: a permutation or flag array the function
(or a function it calls) was passed or made.  No derivative flows through them, a float
written into one is truncated (derivative zero), and the caller's array is written exactly
as one call of the primal writes it, whatever the derivative (vjp's pullback and jacfwd
run the function more than once)."""

import numpy as np
import pytest

import srcgrad
from tests.helpers import fresh_differences
from srcgrad.errors import SrcgradError

A = np.array([[2.0, -1.0, 0.5, 0.3],
              [0.4, 3.0, -0.7, 1.1],
              [1.5, 0.2, 2.5, -0.6],
              [-0.9, 0.8, 0.1, 1.7]])


def permanent_terms(a, perm, c):
    """det(a) by Heap's algorithm: ``perm`` and ``c`` are integer work arrays permuted in
    place (each transposition flips the sign)."""
    n = a.shape[0]
    sign = 1.0
    total = 0.0
    term = 1.0
    for r in range(n):
        term = term * a[r, perm[r]]
    total = total + sign * term
    i = 1
    while i < n:
        if c[i] < i:
            if i % 2 == 0:
                perm[0], perm[i] = perm[i], perm[0]
            else:
                perm[c[i]], perm[i] = perm[i], perm[c[i]]
            sign = -sign
            term = 1.0
            for r in range(n):
                term = term * a[r, perm[r]]
            total = total + sign * term
            c[i] += 1
            i = 1
        else:
            c[i] = 0
            i += 1
    return total


def swap(cols, i, j):
    cols[i], cols[j] = cols[j], cols[i]


def cycled_products(a, cols):
    """A callee permutes the caller's integer argument inside a loop."""
    n = a.shape[0]
    s = 0.0
    for i in range(n - 1):
        swap(cols, i, n - 1 - i)
        s += a[i, cols[i]] * a[n - 1 - i, cols[n - 1 - i]]
    return s


def marked_sum(x, seen):
    """A boolean flag array written in place; reads before and after the writes."""
    s = 0.0
    for i in range(x.shape[0]):
        if not seen[i]:
            s += x[i] * x[i]
            seen[(i + 1) % x.shape[0]] = True
        else:
            s += 0.5 * x[i]
    return s


def rounded_into_integers(x):
    """A float written into an integer array is truncated: derivative zero through it."""
    c = np.zeros(3, dtype=np.int64)
    c[0] = x * 2.5
    d = np.arange(3)
    d[1] += x
    return x * c[0] + x * d[1]


def made_with_dtype(x):
    k = np.zeros(x.shape[0], dtype=int)
    for i in range(x.shape[0]):
        k[i] = x.shape[0] - 1 - i
    return np.sum(x[k] * np.arange(x.shape[0]))


def scale_rows(x, buf):
    for i in range(x.shape[0]):
        buf[i] = np.sin(x[i]) * buf[i]


def scratch_output(x, buf):
    """A float array that is not differentiated (outside wrt) written in place, by a
    callee: a scratch or output array, as in Numba code."""
    scale_rows(x, buf)
    return np.sum(buf * x)


def _copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


CASES = [
    ("heap-permutations", permanent_terms, (A, np.arange(4), np.zeros(4, dtype=np.int64))),
    ("callee-swaps", cycled_products, (A, np.arange(4))),
    ("bool-flags", marked_sum, (np.array([0.3, -1.2, 0.8, 2.0]), np.zeros(4, dtype=bool))),
    ("truncated", rounded_into_integers, (1.3,)),
    ("dtype-int", made_with_dtype, (np.array([0.3, -1.2, 0.8]),)),
    ("float-scratch", scratch_output, (np.array([0.3, 0.8, -0.4]), np.array([1.0, 2.0, 3.0]))),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name, fn, args", CASES, ids=IDS)
def test_gradient_and_writes_match_the_primal(name, fn, args, jit):
    expected_args = _copies(args)
    expected = fn(*expected_args)
    given = _copies(args)
    value, g = srcgrad.value_and_grad(fn, jit=jit)(*given)
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(g, fresh_differences(fn, args, 0), rtol=1e-6, atol=1e-8)
    for seen, want in zip(given, expected_args):       # written once, as by the primal
        np.testing.assert_array_equal(seen, want)


def test_heap_determinant_gradient_is_the_cofactor_matrix():
    value, g = srcgrad.value_and_grad(permanent_terms)(A, np.arange(4), np.zeros(4, dtype=int))
    assert value == pytest.approx(np.linalg.det(A), rel=1e-12)
    np.testing.assert_allclose(g, np.linalg.det(A) * np.linalg.inv(A).T, rtol=1e-10)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name, fn, args", CASES[:3], ids=IDS[:3])
def test_forward_mode(name, fn, args, jit):
    x = args[0]
    v = np.linspace(0.5, -0.5, x.size).reshape(x.shape)
    given = _copies(args)
    value, tangent = srcgrad.jvp(fn, tuple(given), (v,) + tuple(
        np.zeros(a.shape) if isinstance(a, np.ndarray) else 0.0 for a in args[1:]), jit=jit)
    expected_args = _copies(args)
    assert value == pytest.approx(fn(*expected_args), rel=1e-12)
    assert tangent == pytest.approx(np.sum(fresh_differences(fn, args, 0) * v), rel=1e-6, abs=1e-8)
    for seen, want in zip(given, expected_args):
        np.testing.assert_array_equal(seen, want)


def test_repeated_runs_write_once():
    """vjp's pullback (called twice), jacobian, jacfwd and hessian each run the function
    more than once; the work array ends as one primal call leaves it, the results are right."""
    after = np.arange(4)
    permanent_terms(A.copy(), after, np.zeros(4, dtype=int))
    cofactors = np.linalg.det(A) * np.linalg.inv(A).T

    perm, c = np.arange(4), np.zeros(4, dtype=int)
    out, pullback = srcgrad.vjp(permanent_terms, A, perm, c)
    for _ in range(2):
        np.testing.assert_allclose(pullback(1.0)[0], cofactors, rtol=1e-10)
    np.testing.assert_array_equal(perm, after)

    for derivative in (srcgrad.jacobian, srcgrad.jacfwd):
        perm, c = np.arange(4), np.zeros(4, dtype=int)
        np.testing.assert_allclose(derivative(permanent_terms)(A, perm, c), cofactors, rtol=1e-9)
        np.testing.assert_array_equal(perm, after)

    perm, c = np.arange(4), np.zeros(4, dtype=int)
    h = srcgrad.hessian(permanent_terms)(A, perm, c)
    np.testing.assert_array_equal(perm, after)
    i, j, k, m = 0, 1, 1, 0       # d2 det / da_01 da_10 = -det of the minor without rows 0,1
    assert h[i, j, k, m] == pytest.approx(-np.linalg.det(A[2:, 2:]), rel=1e-9)


def countdown(x, order, n):
    """A recursive function writing its integer argument in place."""
    if n == 0:
        return x[order[0]]
    order[n], order[0] = order[0], order[n]
    return x[order[n]] * countdown(x, order, n - 1)


def test_recursive_writer_is_refused():
    with pytest.raises(SrcgradError, match="calls itself and writes into its argument"):
        srcgrad.grad(countdown)(np.array([0.5, 1.5, 2.0]), np.arange(3), 2)


def test_differentiated_argument_still_refused():
    def scale(x):
        x[0] = 2.0 * x[0]
        return np.sum(x)
    with pytest.raises(SrcgradError, match="'x', an argument being differentiated"):
        srcgrad.grad(scale)(np.ones(3))
    with pytest.raises(SrcgradError, match="'buf', an argument being differentiated"):
        srcgrad.grad(scratch_output, wrt=(0, 1))(np.ones(3), np.ones(3))
