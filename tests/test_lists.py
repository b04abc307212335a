"""Lists whose length is known only at run time: ``append``/``pop`` in loops and
branches, comprehensions over a run-time ``range``, and reads of such lists (``xs[i]``,
``np.stack``, ``np.array``, ``np.concatenate``, ``sum``, ``len``, ``for v in xs``).

Every program is checked against central differences in float64 (reverse mode), its
forward-mode tangent against the gradient, and a sample under ``jit=True`` against plain
Python.  Unsupported uses are refused at their line.
"""

from __future__ import annotations

import numpy as np
import pytest

import srcgrad
from srcgrad.errors import AliasingError, SrcgradError, UnsupportedSyntaxError
from tests import list_programs as P
from tests.helpers import assert_grad

X = np.array([0.3, -0.7, 1.1])
RNG = np.random.default_rng(11)

CASES = [
    (P.stack_loop, (X, 4), 0),
    (P.array_of_scalars, (X, 5), 0),
    (P.euler_trajectory, (X, 0.1, 6), 0),
    (P.comprehension, (X, 4), 0),
    (P.sum_of_list, (X, 4), 0),
    (P.iterate_list, (X, 3), 0),
    (P.while_append, (X, 0.55), 0),
    (P.conditional_append, (X, 6), 0),
    (P.inner_list, (X, 3, 4), 0),
    (P.pairwise_product, (X, 5), 0),
    (P.concat_prefixes, (X, 5), 0),
    (P.mean_by_len, (X, 3), 0),
    (P.static_appends, (X, X[::-1].copy()), (0, 1)),
    (P.branch_append, (X, 1.0), 0),
    (P.branch_append, (X, -1.0), 0),
    (P.enumerate_list, (X, 4), 0),
    (P.index_loop, (X, X + 1.0, 4), (0, 1)),
    (P.zip_lists, (X, 4), 0),
    (P.scalar_list_sum, (X, 4), 0),
    (P.rnn, (RNG.normal(size=3), 0.5 * RNG.normal(size=(3, 3)), RNG.normal(size=(5, 3))),
     (0, 1, 2)),
    (P.generator_to_array, (X, 5), 0),
    (P.stack_axis, (X, 4), 0),
    (P.varying_slices, (X, 5), 0),
]
IDS = [f"{f.__name__}-{k}" for k, (f, _, _) in enumerate(CASES)]
# what plain Python and Numba are compared on (each compiles for a second or two)
JIT = {"stack_loop", "array_of_scalars", "euler_trajectory", "comprehension", "while_append",
       "conditional_append", "inner_list", "pairwise_product", "concat_prefixes", "index_loop",
       "zip_lists", "rnn", "stack_axis", "varying_slices", "static_appends"}


@pytest.mark.parametrize("f, args, wrt", CASES, ids=IDS)
def test_gradient_matches_central_differences(f, args, wrt):
    assert_grad(f, args, wrt)


@pytest.mark.parametrize("f, args, wrt", CASES, ids=IDS)
def test_tangent_matches_gradient(f, args, wrt):
    first = wrt if isinstance(wrt, int) else wrt[0]
    v = RNG.normal(size=np.shape(args[first]))
    tangents = [np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0 for a in args]
    tangents[first] = v
    value, tangent = srcgrad.jvp(f, args, tuple(tangents))
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    gradient = srcgrad.grad(f, first)(*args)
    np.testing.assert_allclose(tangent, np.sum(gradient * v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f, args, wrt", [c for c in CASES if c[0].__name__ in JIT],
                         ids=[i for i, c in zip(IDS, CASES) if c[0].__name__ in JIT])
def test_jit_agrees_with_python(f, args, wrt):
    plain = srcgrad.value_and_grad(f, wrt)(*args)
    jitted = srcgrad.value_and_grad(f, wrt, jit=True)(*args)
    np.testing.assert_allclose(jitted[0], plain[0], rtol=1e-12)
    for a, b in zip(np.atleast_1d(jitted[1]) if isinstance(wrt, int) else jitted[1],
                    np.atleast_1d(plain[1]) if isinstance(wrt, int) else plain[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_float_list_under_jit_forward_mode():
    value, tangent = srcgrad.jvp(P.stack_loop, (X, 4), (np.ones(3), 0), jit=True)
    want = srcgrad.jvp(P.stack_loop, (X, 4), (np.ones(3), 0))
    np.testing.assert_allclose([value, tangent], want, rtol=1e-12)


def test_zero_iterations_leave_the_list_empty():
    def f(x, n):
        xs = [x]
        for i in range(n):
            xs.append(xs[-1] * 2.0)
        return np.sum(np.stack(xs))
    np.testing.assert_allclose(srcgrad.grad(f)(X, 0), np.ones(3))
    np.testing.assert_allclose(srcgrad.grad(f)(X, 3), np.full(3, 15.0))


def test_generated_code_reads_like_the_source():
    g = srcgrad.grad(P.stack_loop)
    g(X, 3)
    source = g.source
    assert "xs.append(" in source
    assert "dxs.pop()" in source                   # the reverse sweep pops what was appended
    assert "add_stacked(dxs" in source             # np.stack's adjoint adds into the list
    index = srcgrad.grad(P.index_loop)
    index(X, X, 3)
    assert "xs[" in index.source


def test_list_made_in_each_iteration_is_restored_per_iteration():
    def f(x, m):
        total = 0.0
        for j in range(m):
            row = []
            for i in range(j + 1):             # a different length in each outer iteration
                row.append(x * (i + j))
            total = total + np.sum(np.stack(row) ** 2)
        return total
    assert_grad(f, (X, 4))
    np.testing.assert_allclose(srcgrad.grad(f, jit=True)(X, 4), srcgrad.grad(f)(X, 4))


def _refused(f, args, match, cls=UnsupportedSyntaxError, line_text=None):
    with pytest.raises(cls, match=match) as info:
        srcgrad.grad(f)(*args)
    if line_text is not None:
        assert line_text in str(info.value)
    return info.value


def test_unsupported_uses_are_refused_at_their_line():
    def returned(x, n):
        xs = [x * k for k in range(n)]
        return xs

    def sliced(x, n):
        xs = [x * k for k in range(n)]
        return np.sum(np.stack(xs[1:]))

    def stored(x, n):
        xs = [x * k for k in range(n)]
        xs[0] = x
        return np.sum(np.stack(xs))

    def extended(x, n):
        xs = []
        for i in range(n):
            xs.extend([x])
        return np.sum(np.stack(xs))

    def of_tuples(x, n):
        xs = []
        for i in range(n):
            xs.append((x, x * i))
        return 0.0

    _refused(returned, (X, 3), "cannot be returned", line_text="return xs")
    _refused(sliced, (X, 3), "slices are not supported", line_text="xs[1:]")
    _refused(stored, (X, 3), "storing into an item", line_text="xs[0] = x")
    _refused(extended, (X, 3), r"'\.extend\(\)' is not supported", line_text="xs.extend")
    _refused(of_tuples, (X, 3), "not containers", line_text="xs.append((x, x * i))")


def test_appending_to_an_argument_list_is_refused():
    def f(xs, n):
        for i in range(n):
            xs.append(xs[0] * i)
        return np.sum(np.stack(xs))
    _refused(f, ([X], 3), "comes from the arguments", AliasingError, "xs.append(xs[0] * i)")


def test_second_order_through_a_runtime_list_is_refused_cleanly():
    with pytest.raises(SrcgradError, match="derivatives of derivatives"):
        srcgrad.hessian(P.stack_loop)(X, 3)


def _static_pieces(x, y):
    s = np.stack([x, y * 2.0, x * y], axis=1)
    c = np.concatenate((x, y[:2]))
    a = np.array([x[0], y[1] * x[2]])
    return np.sum(s ** 2 * np.arange(3.0)) + np.sum(c ** 3) + np.sum(a ** 2)


def test_static_lists_of_pieces_under_jit():
    """np.stack / np.concatenate / np.array of lists known now, compiled by Numba too."""
    y = X[::-1].copy()
    assert_grad(_static_pieces, (X, y), (0, 1))
    plain = srcgrad.grad(_static_pieces, (0, 1))(X, y)
    jitted = srcgrad.grad(_static_pieces, (0, 1), jit=True)(X, y)
    for a, b in zip(jitted, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _identity(v):
    return v


def list_to_own_function(x, n):
    xs = [x * k for k in range(n)]
    return np.sum(_identity(xs))


def test_a_run_time_list_passed_to_your_own_function():
    """The callee is lowered in place, so it reads the list like the caller would."""
    assert_grad(list_to_own_function, (X, 3), 0)
