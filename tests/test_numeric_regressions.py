"""Regressions of "No silent wrong answers": numbers, shapes and dtypes checked for real.

Each program is run through reverse mode in plain Python and under Numba (``jit=True``),
and through forward mode (``srcgrad.jvp``) where it applies.  The value must equal
Python's ``f(*args)``; every gradient must have its argument's shape and dtype and match
central differences in float64; the tangent must equal ``<grad, v>`` for a direction ``v``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import srcgrad
from tests.helpers import assert_grad, check_grad_type, numeric_grad

pytest.importorskip("numba")


def _direction(x, rng):
    if isinstance(x, np.ndarray):
        return rng.standard_normal(x.shape)
    return float(rng.standard_normal())


def check_everywhere(f, args, wrt=0, jit=True, forward=True, rtol=1e-6, atol=1e-8):
    """Reverse mode in Python and (``jit``) Numba, forward mode (``forward``): value equal
    to ``f(*args)``, gradients of the arguments' shapes and dtypes equal to central
    differences, tangents equal to ``<grad, v>``."""
    positions = list(wrt) if isinstance(wrt, tuple) else [wrt]
    value, grads = assert_grad(f, args, wrt, rtol=rtol, atol=atol)
    grads = list(grads) if isinstance(wrt, tuple) else [grads]
    if jit:
        jvalue, jgrads = srcgrad.value_and_grad(f, wrt, jit=True)(*args)
        jgrads = list(jgrads) if isinstance(wrt, tuple) else [jgrads]
        np.testing.assert_allclose(jvalue, f(*args), rtol=1e-12)
        for p, g, jg in zip(positions, grads, jgrads):
            check_grad_type(jg, args[p], f"jit, argument {p}: ")
            np.testing.assert_allclose(jg, g, rtol=1e-10, atol=1e-12)
    if forward:
        rng = np.random.default_rng(7)
        tangents = [np.zeros_like(a) if isinstance(a, np.ndarray) else 0.0 for a in args]
        for p in positions:
            tangents[p] = _direction(args[p], rng)
        for use_jit in ((False, True) if jit else (False,)):
            out, tan = srcgrad.jvp(f, args, tangents, jit=use_jit)
            np.testing.assert_allclose(out, f(*args), rtol=1e-12)
            want = sum(float(np.sum(np.asarray(g) * np.asarray(tangents[p])))
                       for p, g in zip(positions, grads))
            np.testing.assert_allclose(tan, want, rtol=rtol, atol=atol,
                                       err_msg=f"jvp (jit={use_jit}) differs from <grad, v>")
    return value, grads


X43 = np.arange(12.0).reshape(4, 3) / 7.0 + 0.1
V4 = np.array([0.3, -0.5, 1.2, 2.0])


# --------------------------------------------------------------------------- 1. scalar operands
def row_sums_scaled(X, s):
    return np.sum(np.sum(X, axis=1) * s)


def mean_rows_shifted(X, s):
    return np.sum(np.sum(X, axis=0) / 4.0 + s * s)


def max_cols_scaled(X, s):
    return np.sum(s / (1.0 + np.max(X, axis=1, keepdims=True)))


@pytest.mark.parametrize("s", [2.0, np.float64(2.0), np.float32(2.0)], ids=["float", "f64", "f32"])
@pytest.mark.parametrize("f", [row_sums_scaled, mean_rows_shifted, max_cols_scaled])
def test_array_cotangent_summed_onto_a_scalar(f, s):
    """A reduction with an axis gives an array: the scalar's gradient sums over it."""
    if isinstance(s, np.float32):
        g = srcgrad.grad(f, wrt=(0, 1))(X43, s)
        check_grad_type(g[1], s)
        np.testing.assert_allclose(g[1], numeric_grad(f, (X43, s), 1), rtol=1e-4)
        return
    jit = f is not max_cols_scaled          # Numba: np.max has no axis argument
    check_everywhere(f, (X43, s), wrt=(0, 1), jit=jit)


def test_a_gradient_of_the_wrong_shape_is_reported_not_broadcast():
    from srcgrad.api import _cast_like
    with pytest.raises(srcgrad.SrcgradError, match="shape"):
        _cast_like(np.ones(4), 2.0)
    with pytest.raises(srcgrad.SrcgradError, match="shape"):
        _cast_like(np.ones(4), np.float64(2.0))
    with pytest.raises(srcgrad.SrcgradError, match="shape"):
        _cast_like(np.ones(3), np.ones((2, 3)))
    assert _cast_like(np.float64(0.0), np.ones(3)).shape == (3,)


# --------------------------------------------------------------------------- 2. complex values
def _line_of(f, marker="# <-"):
    import inspect
    lines, first = inspect.getsourcelines(f)
    return first + next(i for i, text in enumerate(lines) if marker in text)


def abs_of_complex(x):
    return np.abs(x * 1j + 1.0)  # <-


def exp_of_complex(x):
    z = np.exp(1j * x)  # <-
    return np.sum(np.abs(z + 2.0))


def real_part(x):
    z = (x + 2j) * (x - 1j)  # <-
    return np.sum(np.real(z))


def imag_part(x):
    return np.sum(np.imag(x * (1 + 2j)))  # <-


def conjugate_product(x):
    z = x * np.array([1 + 1j, 2 - 1j])  # <-
    return np.sum(np.abs(z * np.conj(z)))


def complex_data(x, C):
    return np.sum(np.abs(x * C))  # <-


def complex_in_a_loop(x):
    y = x
    for _ in range(3):
        y = y * 2j  # <-
    return np.abs(y)


@pytest.mark.parametrize("f, args", [
    (abs_of_complex, (0.7,)), (exp_of_complex, (V4,)), (real_part, (V4,)), (imag_part, (V4,)),
    (conjugate_product, (V4[:2].copy(),)), (complex_data, (V4[:2].copy(), np.array([1 + 1j, 2 - 1j]))),
    (complex_in_a_loop, (0.7,)),
], ids=lambda v: getattr(v, "__name__", ""))
def test_complex_intermediates_are_refused_at_the_line(f, args):
    """Never a wrong sign: a complex value meeting a derivative is refused, naming the line."""
    tangents = [np.ones_like(a) if isinstance(a, np.ndarray) else 1.0 for a in args]
    for run in (lambda: srcgrad.grad(f)(*args), lambda: srcgrad.grad(f, jit=True)(*args),
                lambda: srcgrad.jvp(f, args, tangents)):
        with pytest.raises(srcgrad.SrcgradError) as info:
            run()
        message = str(info.value)
        assert "complex" in message and f"line {_line_of(f)}" in message, message


def test_complex_values_away_from_derivatives_are_fine():
    def magnitudes(x, C):
        c = np.abs(C)
        return np.sum(c * x)
    C = np.array([1 + 1j, 2 - 1j, 3j, 1.0])
    check_everywhere(magnitudes, (V4, C), wrt=0, forward=False)
    np.testing.assert_allclose(srcgrad.grad(magnitudes)(V4, C), np.abs(C))


def real_parts_of_reals(x, s):
    return np.sum(np.real(x) * np.conj(x) * np.conjugate(s) + np.imag(x) + np.real(s) * s)


@pytest.mark.parametrize("s", [0.8, np.float64(0.8)], ids=["float", "f64"])
def test_real_imag_conj_of_real_values(s):
    """On real values np.real and np.conj are the value, np.imag zero (complex ones are refused)."""
    check_everywhere(real_parts_of_reals, (V4, s), wrt=(0, 1))


# --------------------------------------------------------------------------- 3. np.full
def full_weighted(a):
    return np.sum(np.full(3, a) * np.arange(1.0, 4.0))


def full_like_weighted(x, a):
    return np.sum(np.full_like(x, a) * x * x)


def full_2d_of_a_row(r):
    return np.sum(np.sin(np.full((2, 4), r)))


def full_then_written(x, a):
    u = np.full(4, a)
    u[1] = x[0] * a
    u[2:] = x[2:] * 2.0
    return np.sum(u * u)


def full_in_a_loop(x, a):
    acc = np.full(4, a)
    for i in range(3):
        acc = acc * x + np.full(4, a * i)
    return np.sum(acc)


def full_of_integers(x, a):
    return np.sum(np.full(4, a, dtype="int64") * x) + a * a


@pytest.mark.parametrize("a", [1.3, np.float64(1.3)], ids=["float", "f64"])
def test_full_differentiates_its_fill_value(a):
    check_everywhere(full_weighted, (a,))
    np.testing.assert_allclose(srcgrad.grad(full_weighted)(a), 6.0, rtol=1e-14)
    check_everywhere(full_like_weighted, (V4, a), wrt=(0, 1))
    check_everywhere(full_2d_of_a_row, (V4,), jit=False)   # Numba: no np.full of an array
    check_everywhere(full_then_written, (V4, a), wrt=(0, 1))
    check_everywhere(full_in_a_loop, (V4, a), wrt=(0, 1))


def test_full_with_an_integer_dtype_rounds_so_carries_no_derivative():
    """np.full(n, a, dtype=int) truncates a: derivative 0 (not 1) through the fill value."""
    g = srcgrad.grad(full_of_integers, wrt=1)(V4, 1.3)
    assert g == pytest.approx(2.6, rel=1e-14)
    assert srcgrad.jvp(full_of_integers, (V4, 1.3), (np.zeros(4), 1.0))[1] == pytest.approx(2.6)


# --------------------------------------------------------------------------- 4. cumsum
def hessian_by_differences(f, x, eps=1e-5):
    """Central differences of srcgrad's (checked) gradient: d grad_i / d x_j."""
    gradient = srcgrad.grad(f)
    x = np.asarray(x, np.float64)
    H = np.zeros(x.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        H[(Ellipsis,) + idx] = (gradient(xp) - gradient(xm)) / (2 * eps)
    return H


def check_hessian(f, x, jit=True):
    want = hessian_by_differences(f, x)
    for use_jit in ((False, True) if jit else (False,)):
        H = srcgrad.hessian(f, jit=use_jit)(x)
        assert H.shape == x.shape + x.shape
        np.testing.assert_allclose(H, want, rtol=1e-6, atol=1e-6,
                                   err_msg=f"hessian (jit={use_jit}) differs from differences")


def cumsum_times_x(x):
    return np.sum(np.cumsum(x) * x)


def cumsum_of_a_matrix(X):
    return np.sum(np.cumsum(X * X) * np.sin(np.ravel(X)))


def cumsum_along_an_axis(X):
    return np.sum(np.cumsum(X, axis=1) ** 2) + np.sum(np.cumsum(X, 0) * X)


def cumsum_in_a_loop(x):
    y = x
    for _ in range(2):
        y = np.cumsum(y) * 0.5 + np.sin(y)
    return np.sum(y * y)


@pytest.mark.parametrize("f, x, jit", [
    (cumsum_times_x, V4, True), (cumsum_of_a_matrix, X43[:2], True),
    (cumsum_along_an_axis, X43[:3], False),      # Numba's np.cumsum has no axis
    (cumsum_in_a_loop, V4, True),
], ids=lambda v: getattr(v, "__name__", ""))
def test_cumsum_first_and_second_order(f, x, jit):
    check_everywhere(f, (x,), jit=jit)
    check_hessian(f, x, jit=jit)


def ravel_and_reshape(X):
    return np.sum(np.sin(np.ravel(X)) * np.arange(6.0)) + np.sum(np.reshape(X, (3, 2)) ** 2)


def ravel_fortran(X):
    return np.sum(np.sin(np.ravel(X, order="F")) * np.arange(6.0))


def test_ravel_and_reshape_tangents_compile_under_numba():
    """Their tangents were spelled np.ravel(t, 'C') / np.reshape(..., order=...), which
    Numba does not accept (it failed with a raw AssertionError)."""
    check_everywhere(ravel_and_reshape, (X43[:2].copy(),))
    check_everywhere(ravel_fortran, (X43[:2].copy(),), jit=False)


def test_fortran_order_is_never_laid_out_in_c_order_under_numba():
    import numba

    import srcgrad.backends.numba  # noqa: F401  (the Numba twins)
    from srcgrad.runtime.numpy_helpers import reshape_as

    @numba.njit
    def fortran(g, x):
        return reshape_as(g, x, "F")
    with pytest.raises(numba.core.errors.TypingError):
        fortran(np.arange(6.0), np.ones((2, 3)))


# --------------------------------------------------------------------------- 5. index forms
def strided_column(x):
    return np.sum(x[::2, np.newaxis] * x)


def outer_by_newaxis(a):
    return np.sum(a[:, np.newaxis] * a)


def none_and_ellipsis(X):
    return np.sum(X[None, ..., ::-1] * X) + np.sum(X[..., 1] ** 2)


def negative_steps(x):
    return np.sum(x[::-1] * x) + np.sum(x[-1:0:-2] ** 3)


def mixed_int_and_slices(X):
    return np.sum(X[1, ::-2] * X[:, 2][:, None]) + np.sum(X[-1, 1:3] ** 2)


def written_through_slices(X):
    Y = X.copy()
    Y[::2, None, 1] = X[::2, None, 0] * 3.0
    Y[..., -1] = np.sin(X[..., 0])
    return np.sum(Y * Y)


def fancy_with_a_slice(X):
    return np.sum(X[np.array([0, 2, 2]), 1:] ** 2)


def boolean_mask(X):
    return np.sum(X[X > 0.45] ** 2) + np.sum(X[np.array([True, False, True])] * X[0])


@pytest.mark.parametrize("f, x", [
    (strided_column, V4), (outer_by_newaxis, V4), (none_and_ellipsis, X43),
    (negative_steps, V4), (mixed_int_and_slices, X43), (written_through_slices, X43),
], ids=lambda v: getattr(v, "__name__", ""))
def test_index_forms_print_valid_code(f, x):
    """A slice in an index tuple that generated code passes as a value is slice(a, b, c)."""
    check_everywhere(f, (x.copy(),))


def test_fancy_indexes_accumulate_or_are_refused_under_numba():
    X = X43[:3].copy()
    check_everywhere(fancy_with_a_slice, (X,), jit=False)
    with pytest.raises(srcgrad.SrcgradError, match="Numba"):   # a tuple with a slice: add_at
        srcgrad.grad(fancy_with_a_slice, jit=True)(X)
    check_everywhere(boolean_mask, (X,), jit=False)
    src = srcgrad.show(srcgrad.grad(fancy_with_a_slice))
    assert "add_at(dX, (array, slice(1, None)), dX_i)" in src


def mask_rows(x):
    return np.sum(x[x > 0.0] ** 2) + np.sum(x[np.array([0, 3, 3])] * 2.0)


def test_masks_and_repeated_indexes_under_numba():
    check_everywhere(mask_rows, (V4.copy(),))


def test_numba_unbroadcast_of_any_rank_matches_python():
    import numba

    import srcgrad.backends.numba  # noqa: F401  (the Numba twins)
    from srcgrad.runtime.broadcast import unbroadcast

    @numba.njit
    def summed(g, x):
        return unbroadcast(g, x)
    rng = np.random.default_rng(3)
    for gshape, xshape in [((2, 3, 4), (3, 1)), ((2, 3, 4), (2, 1, 4)), ((1, 3, 4), (3, 4)),
                           ((2, 2, 3, 2), (2, 1, 1)), ((3, 1, 2), (1, 1, 2)), ((2, 3, 4), (2, 3, 4))]:
        g = rng.standard_normal(gshape)
        x = np.zeros(xshape)
        np.testing.assert_allclose(summed(g, x), unbroadcast(g, x), rtol=1e-13)


# --------------------------------------------------------------------------- 6. np.array(M)
def owned_copy(M):
    P = np.array(M)
    P[0] = P[0] * 2.0
    return np.sum(P * M)


def owned_vector(x):
    y = np.array(x)
    y[1:] = np.sin(x[:-1])
    return np.sum(y * y)


@pytest.mark.parametrize("f, x", [(owned_copy, X43[:2]), (owned_vector, V4)],
                         ids=["matrix", "vector"])
def test_np_array_of_an_array_compiles_under_numba(f, x):
    check_everywhere(f, (x.copy(),))
    assert "np.array(M)" in srcgrad.show(srcgrad.grad(owned_copy)) or f is owned_vector


# --------------------------------------------------------------------------- 7. jvp of buffers
def copied_ones_written(a):
    u = np.ones(3).copy()
    u[0] = a
    return np.sum(u * u)


def owned_constant_written(a, c):
    u = np.array(c)
    v = np.copy(c)
    w = np.full(3, 2.0)
    u[1] = a * a
    v[2:] = np.sin(a)
    w[0] = u[1] * v[2]
    return np.sum(u * v) + np.sum(w ** 2)


def copy_of_inactive_in_a_loop(a, c):
    u = c.copy()
    for i in range(3):
        u[i] = u[i] * a + 1.0
    return np.sum(u ** 2)


@pytest.mark.parametrize("a", [0.7, np.float64(0.7)], ids=["float", "f64"])
def test_tangent_of_a_copy_written_with_active_values(a):
    c = np.array([0.5, -1.5, 2.0])
    check_everywhere(copied_ones_written, (a,))
    check_everywhere(owned_constant_written, (a, c), wrt=0)
    check_everywhere(copy_of_inactive_in_a_loop, (a, c), wrt=0)


# --------------------------------------------------------------------------- 8. second order
def loop_of_scalars(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.sin(x[i]) * x[i]
    return s


def while_loop(x):
    y = x
    k = 0
    while k < 3:
        y = y * 0.5 + np.sin(y)
        k += 1
    return np.sum(y * y)


def stores_in_a_loop(x):
    u = x.copy()
    for i in range(1, 4):
        u[i] = u[i - 1] * x[i]
    return np.sum(u)


def stores_through_slices(x):
    u = np.zeros(4)
    u[0] = x[0] * x[1]
    u[1:3] = x[1:3] ** 2
    u[::-3] += x[::-3] * x[0]
    return np.sum(u * x)


def full_and_slices(x):
    u = np.full(4, x[0])
    return np.sum(u * x * x) + np.sum(x[::2, None] * x) + np.sum(x[::-1] * x ** 2)


def owned_array_written(x):
    P = np.array(x)
    P[0] = P[1] * P[2]
    return np.sum(P * x)


def stacked_and_concatenated(x):
    return np.sum(np.stack([x, x ** 2]) ** 2) + np.sum(np.concatenate([x, np.sin(x)]) ** 3)


def clipped_and_masked(x):
    return np.sum(np.clip(x, -0.4, 1.0) ** 3) + np.sum(x[x > 0.0] ** 3)


def branchy(x):
    if np.sum(x) > 0:
        y = x * x
    else:
        y = np.sin(x)
    return np.sum(y * x)


@pytest.mark.parametrize("f", [
    loop_of_scalars, while_loop, stores_in_a_loop, stores_through_slices, full_and_slices,
    owned_array_written, stacked_and_concatenated, clipped_and_masked, branchy,
    cumsum_in_a_loop,
], ids=lambda f: f.__name__)
def test_hessian_where_the_gradient_works(f):
    check_hessian(f, V4)


def norm_cubed(x):
    return np.linalg.norm(x) ** 3


def product(x):
    return np.prod(x) * np.sum(x)


def norms_of_rows(X):
    return np.sum(np.linalg.norm(X, axis=1) ** 3) + np.linalg.norm(X, "fro") ** 2


def products_of_rows(X):
    return np.sum(np.prod(X, axis=0) ** 2)


@pytest.mark.parametrize("f, x, jit", [
    (norm_cubed, V4, True), (product, V4, True), (product, np.array([0.5, 0.0, -1.5, 2.0]), True),
    (product, np.array([0.5, 0.0, -1.5, 0.0]), True),
    (norms_of_rows, X43[:2].copy(), False), (products_of_rows, np.array([[1.5, 0.0], [0.7, -0.3], [0.0, 2.0]]), False),
], ids=["norm", "prod", "prod-one-zero", "prod-two-zeros", "norm-axis", "prod-axis"])
def test_norm_and_prod_first_and_second_order(f, x, jit):
    """Their adjoint helpers have rules (and Numba twins): hessians are exact, zeros included."""
    check_everywhere(f, (x,), jit=jit)
    check_hessian(f, x, jit=jit)


def squares_of_a_list(x):
    items = []
    for i in range(3):
        items.append(x * i)  # <-
    return np.sum(np.stack(items) ** 2)


def test_second_order_refusals_name_the_users_line():
    """Never srcgrad's own names (dx, add_stacked(...)) as the place of the problem."""
    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.hessian(squares_of_a_list)(V4)
    message = str(info.value)
    assert f"line {_line_of(squares_of_a_list)}" in message, message
    assert __file__.rsplit("/", 1)[-1] in message and "<srcgrad" not in message, message


def test_numba_clip_weights_match_python():
    import numba

    import srcgrad.backends.numba  # noqa: F401  (the Numba twins)
    from srcgrad.runtime.numpy_helpers import clip_above, clip_below, clip_inside
    a = np.array([-1.0, 0.0, 0.5, 2.0, 0.3])
    for lo, hi in ((0.0, 1.0), (None, 0.4), (-0.5, None), (0.6, 0.2)):
        for fn in (clip_inside, clip_below, clip_above):
            compiled = numba.njit(lambda a, lo, hi: fn(a, lo, hi))
            for x in (a, 0.45):
                np.testing.assert_array_equal(compiled(x, lo, hi), fn(x, lo, hi))


def scalars_to_vector(x, y):
    a = np.array([x, y, x * y])
    return np.sum(a * a) * x


@pytest.mark.parametrize("jit", [False, True])
def test_grad_of_grad_through_a_tuple_of_cotangents(jit):
    """Reverse over reverse: the adjoint of unarray's tuple of cotangents starts as a list
    of zeros (a scalar 0.0 could not be added into)."""
    d2 = srcgrad.grad(srcgrad.grad(scalars_to_vector, 0, jit=jit), 0, jit=jit)(0.3, 0.7)
    g = srcgrad.grad(scalars_to_vector, 0)
    eps = 1e-5
    assert d2 == pytest.approx((g(0.3 + eps, 0.7) - g(0.3 - eps, 0.7)) / (2 * eps), rel=1e-6)


def rows_in_a_loop(X, s):
    t = s * 2.0
    for i in range(2):
        t = t + np.sum(X[i] * s, axis=0)
    return t


def sum_over_an_axis_of_a_cube(C, s):
    return np.sum(np.sum(C * C, axis=1) * s) + np.sum(np.sum(C, axis=-1) ** 2)


@pytest.mark.parametrize("s", [0.8, np.float64(0.8)], ids=["float", "f64"])
def test_reductions_over_one_axis_of_any_rank_under_numba(s):
    check_everywhere(rows_in_a_loop, (X43, s), wrt=(0, 1))
    C = np.arange(24.0).reshape(2, 3, 4) / 10.0
    check_everywhere(sum_over_an_axis_of_a_cube, (C, s), wrt=(0, 1))


def test_zero_dimensional_arrays_keep_their_shape():
    s = np.array(0.8)
    g = srcgrad.grad(row_sums_scaled, wrt=(0, 1))(X43, s)
    assert isinstance(g[1], np.ndarray) and g[1].shape == () and g[1].dtype == np.float64
    np.testing.assert_allclose(g[1], np.sum(X43), rtol=1e-14)


def complex_zeros(x, C):
    Z = np.zeros_like(C)
    return np.sum(np.abs(x * Z + x))  # <-


def complex_masks_are_real(x, C):
    mask = np.isfinite(C)
    return np.sum(np.where(mask, x * x, 0.0)) + np.sum(np.real(C) * x)


def test_complex_values_through_non_differentiable_calls():
    C = np.array([1 + 1j, 2 - 1j, 3j, 1.0])
    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.grad(complex_zeros)(V4, C)
    assert "complex" in str(info.value) and f"line {_line_of(complex_zeros)}" in str(info.value)
    check_everywhere(complex_masks_are_real, (V4, C), wrt=0, forward=False)


def powers(x):
    return np.sum(np.power(np.abs(x) + 1.0, x) + x / (1.0 + x * x))


def trace_of_outer(x):
    return np.trace(np.outer(x, x)) ** 2 + np.trace(np.outer(x, x ** 2), 1)


@pytest.mark.parametrize("f", [powers, trace_of_outer], ids=lambda f: f.__name__)
def test_more_helpers_with_second_order_and_numba_twins(f):
    """log_or_zero (x ** y) has a rule; trace_grad, log_or_zero and np.trace with axes
    have Numba versions."""
    check_everywhere(f, (V4,))
    check_hessian(f, V4)


def test_second_order_jit_errors_point_at_the_users_function():
    def unsupported_under_numba(x):
        return np.sum(scipy.linalg.expm(0.1 * np.outer(x, x)))      # expm: no_jit
    with pytest.raises(srcgrad.SrcgradError) as info:
        srcgrad.hessian(unsupported_under_numba, jit=True)(V4)
    assert "cannot run under jit=True" in str(info.value), str(info.value)
    assert "<srcgrad" not in str(info.value.loc.file), str(info.value)


def diagonals(x):
    M = np.diag(x) + np.diag(x[:3], 1)
    return np.sum(M @ M * M) + np.sum(np.diag(np.outer(x, x), -1) ** 2)


def test_diag_under_numba():
    check_everywhere(diagonals, (V4,))
    check_hessian(diagonals, V4)
