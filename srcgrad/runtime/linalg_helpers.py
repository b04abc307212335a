"""Helpers that the rules of ``rules/linalg.py`` (linear algebra and products) call.

Same contract as ``numpy_helpers.py``: each is called from generated code, keeps the
floating dtype of its inputs, has rules of its own (in ``rules/linalg.py``) so that the
adjoint can be differentiated again, and a Numba twin below (or a listed reason for none,
in tests/test_imports.py).  Matrix helpers take stacks of matrices (leading batch axes);
their twins take single matrices, as Numba's own ``np.linalg`` does.

Also here: the Numba versions of NumPy and SciPy functions that Numba lacks or lacks a
form of (``np.matmul``, ``np.inner``, ``np.vdot`` of matrices, ``np.expand_dims`` with
several axes, ``np.linalg.multi_dot``, ``scipy.linalg.solve_triangular``...).  Python
helpers and twins together run past 500 lines; they are kept in one module so that each
twin stays next to the helper it mirrors.
"""

from __future__ import annotations

import numpy as np

from srcgrad.errors import UnsupportedDerivativeError
from srcgrad.runtime.broadcast import unbroadcast
from srcgrad.runtime.numpy_helpers import mT, reshape_as
from srcgrad.runtime.twins import is_scalar, numba, numba_twin, types

__all__ = [
    "kron_grad_a", "kron_grad_b", "tensordot_grad_a", "tensordot_grad_b", "einsum_of",
    "einsum_grad_a", "einsum_grad_b", "multi_dot_grads", "multi_dot_jvp", "frechet_pair",
    "upper_right", "diagonal_blocks", "tril_half", "symmetric_from", "symmetric_cotangent",
    "eigvecsh", "inverse_gaps", "pair_differences", "eigen_outer", "eigen_diagonal",
    "columns_scaled", "triangular_outer", "triangular_apply",
    "svd_checked", "qr_checked", "outer_columns", "lstsq_checked", "residual_weights",
    "residual_weights_adjoint",
]


# --------------------------------------------------------------------------- kron

def _kron_layout(g, a, b):
    """``a``, ``b`` padded to one rank and ``g`` reshaped so that its axes alternate
    between ``a``'s and ``b``'s (``kron(a, b)[i*p + k] = a[i] * b[k]`` per axis)."""
    nd = max(np.ndim(a), np.ndim(b))
    A = np.reshape(a, (1,) * (nd - np.ndim(a)) + np.shape(a))
    B = np.reshape(b, (1,) * (nd - np.ndim(b)) + np.shape(b))
    pairs = [n for pair in zip(A.shape, B.shape) for n in pair]
    return np.reshape(g, pairs), A, B, nd


def kron_grad_a(g, a, b):
    """Cotangent of ``a`` in ``np.kron(a, b)``: each entry of ``a`` scales a copy of ``b``,
    so it receives the inner product of ``b`` with its block of ``g``."""
    G, A, B, nd = _kron_layout(g, a, b)
    spread = np.reshape(B, [n for m in B.shape for n in (1, m)])
    return reshape_as(np.sum(G * spread, axis=tuple(range(1, 2 * nd, 2))), a)


def kron_grad_b(g, a, b):
    """Cotangent of ``b`` in ``np.kron(a, b)``: the blocks of ``g`` weighted by ``a``'s
    entries, summed."""
    G, A, B, nd = _kron_layout(g, a, b)
    spread = np.reshape(A, [n for m in A.shape for n in (m, 1)])
    return reshape_as(np.sum(G * spread, axis=tuple(range(0, 2 * nd, 2))), b)


# --------------------------------------------------------------------------- tensordot

def _tensordot_axes(a_nd, b_nd, axes):
    """``axes`` of ``np.tensordot`` as two lists of non-negative axes of ``a`` and ``b``."""
    if isinstance(axes, (int, np.integer)):
        return list(range(a_nd - axes, a_nd)), list(range(int(axes)))
    sa, sb = axes
    sa = [sa] if isinstance(sa, (int, np.integer)) else list(sa)
    sb = [sb] if isinstance(sb, (int, np.integer)) else list(sb)
    return [int(k) % a_nd for k in sa], [int(k) % b_nd for k in sb]


def tensordot_grad_a(g, a, b, axes=2):
    """Cotangent of ``a`` in ``np.tensordot(a, b, axes)``: ``g`` contracted with ``b`` over
    ``b``'s free axes, its axes then put back in ``a``'s order."""
    sa, sb = _tensordot_axes(np.ndim(a), np.ndim(b), axes)
    free_a = [k for k in range(np.ndim(a)) if k not in sa]
    free_b = [k for k in range(np.ndim(b)) if k not in sb]
    out = np.tensordot(g, b, axes=(list(range(len(free_a), np.ndim(g))), free_b))
    order = free_a + [sa[sb.index(k)] for k in sorted(sb)]
    return np.transpose(out, np.argsort(order))


def tensordot_grad_b(g, a, b, axes=2):
    """Cotangent of ``b`` in ``np.tensordot(a, b, axes)`` (see ``tensordot_grad_a``)."""
    sa, sb = _tensordot_axes(np.ndim(a), np.ndim(b), axes)
    free_a = [k for k in range(np.ndim(a)) if k not in sa]
    free_b = [k for k in range(np.ndim(b)) if k not in sb]
    out = np.tensordot(a, g, axes=(free_a, list(range(len(free_a)))))
    order = [sb[sa.index(k)] for k in sorted(sa)] + free_b
    return np.transpose(out, np.argsort(order))


# --------------------------------------------------------------------------- einsum

def _einsum_parts(subscripts, count):
    """The input subscripts (one per operand) and the output subscripts of an einsum."""
    if "." in subscripts:
        raise UnsupportedDerivativeError(
            f"no derivative rule for np.einsum with an ellipsis ({subscripts!r}): spell "
            f"the axes out", construct="np.einsum")
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != count:
        raise ValueError(f"{subscripts!r} names {len(inputs)} operands, {count} given")
    if not arrow:        # implicit output: the letters seen once, in alphabetical order
        letters = "".join(inputs)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return inputs, output


def einsum_of(subscripts, a, b=None):
    """``np.einsum(subscripts, a)`` or ``np.einsum(subscripts, a, b)``: the tangent rules
    replace one operand, and a one-operand einsum has no ``b``."""
    if b is None:
        return np.einsum(subscripts, a)
    return np.einsum(subscripts, a, b)


def _einsum_cotangent(g, subscripts, k, operands):
    """Cotangent of operand ``k``: ``g`` contracted with the other operands onto operand
    ``k``'s subscripts.  An axis only that operand names (summed) receives ``g``
    broadcast; a repeated letter (a diagonal, as in ``"ii"``) receives it on the diagonal."""
    inputs, output = _einsum_parts(subscripts, len(operands))
    target = inputs[k]
    others = [s for j, s in enumerate(inputs) if j != k]
    rest = [x for j, x in enumerate(operands) if j != k]
    letters = "".join(dict.fromkeys(target))
    seen = set(output + "".join(others))
    kept = "".join(c for c in letters if c in seen)
    part = np.einsum(",".join([output] + others) + "->" + kept, g, *rest)
    dtype = np.result_type(g, *operands)
    out = np.zeros(np.shape(operands[k]), dtype)
    view = np.einsum(target + "->" + letters, out)      # writeable: the diagonals of out
    view[...] = np.reshape(part, [np.shape(view)[i] if c in seen else 1
                                  for i, c in enumerate(letters)])
    return reshape_as(out, operands[k])


def einsum_grad_a(g, subscripts, a, b=None):
    """Cotangent of ``a`` in ``np.einsum(subscripts, a[, b])``."""
    return _einsum_cotangent(g, subscripts, 0, [a] if b is None else [a, b])


def einsum_grad_b(g, subscripts, a, b):
    """Cotangent of ``b`` in ``np.einsum(subscripts, a, b)``."""
    return _einsum_cotangent(g, subscripts, 1, [a, b])


# --------------------------------------------------------------------------- multi_dot

def _chain(arrays):
    """The matrices of ``multi_dot(arrays)`` (a first vector as a row, a last one as a
    column), with the products of those before and after each."""
    mats = [np.atleast_2d(x) for x in arrays]
    if np.ndim(arrays[-1]) == 1:
        mats[-1] = mats[-1].T
    before, after = [None] * len(mats), [None] * len(mats)
    for k in range(1, len(mats)):
        before[k] = mats[k - 1] if k == 1 else before[k - 1] @ mats[k - 1]
    for k in range(len(mats) - 2, -1, -1):
        after[k] = mats[k + 1] if k == len(mats) - 2 else mats[k + 1] @ after[k + 1]
    return mats, before, after


def multi_dot_grads(g, arrays):
    """Cotangents of every array in ``np.linalg.multi_dot(arrays)`` (a tuple):
    ``before_k^T @ g @ after_k^T`` for the product ``before_k @ a_k @ after_k``."""
    mats, before, after = _chain(arrays)
    G = np.reshape(g, (mats[0].shape[0], mats[-1].shape[1]))
    out = []
    for k, x in enumerate(arrays):
        c = G if before[k] is None else before[k].T @ G
        out.append(reshape_as(c if after[k] is None else c @ after[k].T, x))
    return tuple(out)


def multi_dot_jvp(t, arrays):
    """Tangent of ``np.linalg.multi_dot(arrays)`` for tangents ``t`` of every array:
    ``sum_k before_k @ t_k @ after_k``."""
    mats, before, after = _chain(arrays)
    total = 0.0
    for k, x in enumerate(arrays):
        d = np.atleast_2d(t[k])
        d = d.T if k == len(arrays) - 1 and np.ndim(x) == 1 else d
        d = d if before[k] is None else before[k] @ d
        total = total + (d if after[k] is None else d @ after[k])
    return reshape_as(total, np.linalg.multi_dot(arrays))


# --------------------------------------------------------------------------- Frechet derivatives
# For a matrix function f given by a power series (matrix_power, expm), the derivative at a
# in the direction e is the upper right block of f([[a, e], [0, a]]); its adjoint is the
# same at a^T.  Rules built this way are differentiable again through f's own rule.

def frechet_pair(a, e):
    """The block matrix ``[[a, e], [0, a]]`` (of each matrix in a stack)."""
    zero = np.zeros_like(a)
    return np.concatenate([np.concatenate([a, e], axis=-1),
                           np.concatenate([zero, a], axis=-1)], axis=-2)


def upper_right(m):
    """The upper right quarter of ``m`` (of each matrix in a stack)."""
    n = np.shape(m)[-1] // 2
    return m[..., :n, n:].copy()


def diagonal_blocks(m):
    """The sum of the upper left and lower right quarters of ``m``: the cotangent of ``a``
    in ``frechet_pair(a, e)``."""
    n = np.shape(m)[-1] // 2
    return m[..., :n, :n] + m[..., n:, n:]


# --------------------------------------------------------------------------- symmetric matrices

def tril_half(x):
    """The lower triangle of ``x`` with its diagonal halved (zero above): Cholesky's
    ``dL = L tril_half(L^-1 dA L^-T)``."""
    return np.tril(x, -1) + 0.5 * np.tril(np.triu(x))


def symmetric_from(x, UPLO="L"):
    """The symmetric matrix whose lower (``UPLO="L"``) or upper triangle is ``x``'s: what
    a solver reading one triangle (cholesky, eigvalsh) sees of ``x``."""
    if UPLO == "L":
        return np.tril(x) + mT(np.tril(x, -1))
    return np.triu(x) + mT(np.triu(x, 1))


def symmetric_cotangent(p, UPLO="L"):
    """The adjoint of ``symmetric_from``: the cotangent ``p`` of the symmetric matrix
    folded onto the triangle actually read (off-diagonal pairs summed there)."""
    if UPLO == "L":
        return np.tril(p) + np.tril(mT(p), -1)
    return np.triu(p) + np.triu(mT(p), 1)


def eigvecsh(a, UPLO="L"):
    """The eigenvectors of the symmetric ``a`` (columns, by ascending eigenvalue), as
    ``np.linalg.eigh(a, UPLO)[1]``: the eigenvalue rules need them, and their own rule
    (distinct eigenvalues) gives the second derivative."""
    return np.linalg.eigh(a, UPLO)[1]


def inverse_gaps(w):
    """``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal, 0 on it: how eigenvectors move
    (``V^T dV = F * (V^T dA V)``).  Eigenvalues must be distinct."""
    gaps = pair_differences(w)
    n = np.shape(w)[-1]
    eye = np.eye(n, dtype=gaps.dtype)
    return (1 - eye) / (gaps + eye)


def pair_differences(w):
    """``D[i, j] = w[j] - w[i]`` (for each vector of a stack)."""
    w = np.asarray(w)
    return w[..., None, :] - w[..., :, None]


def columns_scaled(v, w):
    """``v @ diag(w)``: column ``j`` of ``v`` times ``w[j]`` (stacks broadcast)."""
    return v * np.asarray(w)[..., None, :]


def eigen_outer(v, w):
    """``v @ diag(w) @ v^T``: the cotangent of a symmetric matrix whose eigenvalues (with
    eigenvectors ``v``) have the cotangent ``w``."""
    return columns_scaled(v, w) @ mT(v)


def eigen_diagonal(v, m):
    """``diag(v^T @ m @ v)``: the tangent of the eigenvalues along the symmetric ``m``."""
    return np.sum(v * (m @ v), axis=-2)


# --------------------------------------------------------------------------- singular values
# (np.linalg.svdvals' rules are written with np.linalg.svd, whose own rules follow)

_SVD_FORMS = ("np.linalg.svd's singular vectors are differentiated in the thin form only: "
              "pass full_matrices=False (full_matrices=True is the same only for a square "
              "matrix) and hermitian=False; for singular values alone use np.linalg.svdvals")


def svd_checked(s, a, full_matrices=True, hermitian=False):
    """The singular values ``s`` of ``a`` unchanged, once the form of ``np.linalg.svd``
    is one its rules hold for: thin factors (``full_matrices=False``, or a square ``a``)
    and ``hermitian=False``.  Any other form raises UnsupportedDerivativeError when the
    derivative runs (the shape is not known before)."""
    if hermitian or (full_matrices and np.shape(a)[-1] != np.shape(a)[-2]):
        raise UnsupportedDerivativeError(_SVD_FORMS, construct="np.linalg.svd")
    return s


_QR_FORMS = ("np.linalg.qr is differentiated for a matrix with at least as many rows as "
             "columns (m >= n, full column rank); for a wide matrix factor its transpose")


def qr_checked(r, a):
    """The factor ``r`` of ``np.linalg.qr(a)`` unchanged, once ``a`` has the shape the QR
    rules hold for (m >= n); a wide ``a`` raises UnsupportedDerivativeError."""
    if np.shape(a)[-2] < np.shape(a)[-1]:
        raise UnsupportedDerivativeError(_QR_FORMS, construct="np.linalg.qr")
    return r


# --------------------------------------------------------------------------- least squares

def outer_columns(u, v):
    """``u v^T``: the outer product of two vectors, or ``u @ v^T`` for two matrices with
    one column per right-hand side (the cotangents of ``np.linalg.lstsq``'s matrix)."""
    return np.outer(u, v) if np.ndim(u) == 1 else u @ mT(v)


_LSTSQ_FORMS = ("np.linalg.lstsq is differentiated for a matrix of full rank (rank == "
                "min(m, n)); for a rank-deficient matrix use np.linalg.pinv with an rcond")


def lstsq_checked(x, rank, a):
    """The solution ``x`` of ``np.linalg.lstsq`` unchanged, once ``a`` had full rank
    (the rules differentiate ``x = pinv(a) b``, valid at constant full rank)."""
    if rank < min(np.shape(a)[-2], np.shape(a)[-1]):
        raise UnsupportedDerivativeError(_LSTSQ_FORMS, construct="np.linalg.lstsq")
    return x


def residual_weights(gres, like):
    """The cotangent ``gres`` of lstsq's residuals as one weight per column of ``b``,
    shaped like ``like`` (a number for a vector ``b``, else one per column); zero when
    NumPy returned no residuals (an empty array: m <= n or rank-deficient)."""
    if np.size(gres) == 0:
        return np.zeros(np.shape(like)) if np.ndim(like) else 0.0
    return np.reshape(gres, np.shape(like)) if np.ndim(like) else float(np.reshape(gres, ()))


def residual_weights_adjoint(w, gres):
    """The adjoint of ``residual_weights``: the weights ``w`` shaped like the residuals
    ``gres`` (nothing when they are empty)."""
    if np.size(gres) == 0:
        return np.zeros(np.shape(gres))
    return np.reshape(np.asarray(w, dtype=float), np.shape(gres))


# --------------------------------------------------------------------------- triangular solves

def _triangle(m, lower):
    return np.tril(m) if lower else np.triu(m)


def triangular_outer(y, x, trans=0, lower=False):
    """Cotangent of the triangular ``a`` in ``x = solve_triangular(a, b, trans, lower)``,
    given ``y = solve_triangular(a, g, 1 - trans, lower)``: ``-y x^T`` (``-x y^T`` for the
    transposed system), kept on the triangle read."""
    yx = np.multiply.outer(y, x) if np.ndim(x) == 1 else y @ mT(x)
    return -_triangle(yx if trans == 0 else mT(yx), lower)


def triangular_apply(c, x, trans=0, lower=False):
    """``-T x`` for the triangle ``T`` of ``c`` (``-T^T x`` for the transposed system):
    ``x``'s tangent is ``solve_triangular(a, triangular_apply(da, x), trans, lower)``."""
    tri = _triangle(c, lower)
    return -((tri if trans == 0 else mT(tri)) @ x)


# ======================================================================= Numba twins
# (see runtime/twins.py: recorded here, applied by srcgrad.backends.numba)

def _matrices(*xs) -> bool:
    return all(isinstance(x, types.Array) and x.ndim == 2 for x in xs)


def numba_matmul(a, b):
    """What generated code's ``np.matmul`` calls become under Numba (its backend points
    them here): Numba types ``np.matmul`` as an elementwise ufunc."""
    return np.matmul(a, b)


@numba_twin(numba_matmul)
def _numba_matmul(a, b):
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None
    if a.ndim <= 2 and b.ndim <= 2:
        return lambda a, b: a @ b
    if a.ndim == 3 and b.ndim in (2, 3) or a.ndim == 2 and b.ndim == 3:
        def stacked(a, b):                # a stack on either side (or both, one length)
            n = a.shape[0] if a.ndim == 3 else b.shape[0]
            rows = a.shape[-2]
            cols = b.shape[-1]
            out = np.empty((n, rows, cols), a.dtype)
            for k in range(n):
                left = a[k] if a.ndim == 3 else a
                right = b[k] if b.ndim == 3 else b
                out[k] = np.ascontiguousarray(left) @ np.ascontiguousarray(right)
            return out
        return stacked
    return None


@numba_twin(np.inner)
def _np_inner(a, b):
    if is_scalar(a) or is_scalar(b):
        return lambda a, b: a * b
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None
    if a.ndim == 1 and b.ndim == 1:
        return lambda a, b: np.dot(a, b)
    if a.ndim == 2 and b.ndim == 1:
        return lambda a, b: a @ b
    if a.ndim == 2 and b.ndim == 2:
        return lambda a, b: a @ b.T
    if a.ndim == 1 and b.ndim == 2:
        return lambda a, b: b @ a
    return None


@numba_twin(np.vdot)
def _np_vdot(a, b):
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)) or a.ndim == b.ndim == 1:
        return None                      # Numba's own vdot takes vectors
    return lambda a, b: np.dot(np.ravel(a), np.ravel(b))


@numba_twin(np.expand_dims)
def _np_expand_dims(a, axis):
    """``np.expand_dims`` with a tuple of axes (Numba's own takes one)."""
    if not isinstance(axis, types.UniTuple):
        return None
    from numba.np.unsafe.ndarray import to_fixed_tuple
    count = axis.count
    nd = (a.ndim if isinstance(a, types.Array) else 0) + count

    if is_scalar(a):
        return lambda a, axis: np.full(to_fixed_tuple(np.ones(nd, np.int64), nd), a)

    def impl(a, axis):
        x = a
        shape = np.ones(nd, np.int64)
        new = np.zeros(nd, np.bool_)
        for k in range(count):
            new[axis[k] % nd] = True
        j = 0
        for k in range(nd):
            if not new[k]:
                shape[k] = x.shape[j]
                j += 1
        return np.ascontiguousarray(x).reshape(to_fixed_tuple(shape, nd))
    return impl


@numba_twin(kron_grad_a)
def _kron_grad_a(g, a, b):
    if _matrices(a, b, g):
        def matrices(g, a, b):
            p, q = b.shape
            out = np.zeros(a.shape, g.dtype)
            for i in range(a.shape[0]):
                for j in range(a.shape[1]):
                    out[i, j] = np.sum(g[i * p:(i + 1) * p, j * q:(j + 1) * q] * b)
            return out
        return matrices
    if all(isinstance(x, types.Array) and x.ndim == 1 for x in (g, a, b)):
        def vectors(g, a, b):
            p = b.shape[0]
            out = np.zeros(a.shape, g.dtype)
            for i in range(a.shape[0]):
                out[i] = np.dot(g[i * p:(i + 1) * p], b)
            return out
        return vectors
    return None


@numba_twin(kron_grad_b)
def _kron_grad_b(g, a, b):
    if _matrices(a, b, g):
        def matrices(g, a, b):
            p, q = b.shape
            out = np.zeros(b.shape, g.dtype)
            for i in range(a.shape[0]):
                for j in range(a.shape[1]):
                    out += a[i, j] * g[i * p:(i + 1) * p, j * q:(j + 1) * q]
            return out
        return matrices
    if all(isinstance(x, types.Array) and x.ndim == 1 for x in (g, a, b)):
        def vectors(g, a, b):
            p = b.shape[0]
            out = np.zeros(b.shape, g.dtype)
            for i in range(a.shape[0]):
                out += a[i] * g[i * p:(i + 1) * p]
            return out
        return vectors
    return None


def _matrix_tuple(arrays) -> bool:
    return isinstance(arrays, types.UniTuple) and _matrices(arrays.dtype)


@numba_twin(np.linalg.multi_dot)
def _np_multi_dot(arrays):
    if not _matrix_tuple(arrays):
        return None

    def impl(arrays):
        out = np.ascontiguousarray(arrays[0])
        for k in range(1, len(arrays)):
            out = out @ np.ascontiguousarray(arrays[k])
        return out
    return impl


def _chain_products(arrays):
    """Products of the matrices before and after each one (identity at the ends);
    compiled by the twins of ``multi_dot_grads`` and ``multi_dot_jvp``."""
    n = len(arrays)
    before = [np.eye(arrays[0].shape[0], dtype=arrays[0].dtype)]
    for k in range(1, n):
        before.append(before[k - 1] @ np.ascontiguousarray(arrays[k - 1]))
    after = [np.eye(arrays[n - 1].shape[1], dtype=arrays[0].dtype) for _ in range(n)]
    for k in range(n - 2, -1, -1):
        after[k] = np.ascontiguousarray(arrays[k + 1]) @ after[k + 1]
    return before, after


@numba_twin(multi_dot_grads)
def _multi_dot_grads(g, arrays):
    if not _matrix_tuple(arrays):
        return None
    chain = numba.njit(_chain_products)

    def impl(g, arrays):
        before, after = chain(arrays)
        return [before[k].T @ np.ascontiguousarray(g) @ after[k].T for k in range(len(arrays))]
    return impl


@numba_twin(multi_dot_jvp)
def _multi_dot_jvp(t, arrays):
    if not _matrix_tuple(arrays):
        return None
    chain = numba.njit(_chain_products)

    def impl(t, arrays):
        before, after = chain(arrays)
        total = before[0] @ np.ascontiguousarray(t[0]) @ after[0]
        for k in range(1, len(arrays)):
            total = total + before[k] @ np.ascontiguousarray(t[k]) @ after[k]
        return total
    return impl


@numba_twin(frechet_pair)
def _frechet_pair(a, e):
    if not _matrices(a, e):
        return None

    def impl(a, e):
        n = a.shape[0]
        out = np.zeros((2 * n, 2 * n), a.dtype)
        out[:n, :n] = a
        out[n:, n:] = a
        out[:n, n:] = e
        return out
    return impl


@numba_twin(upper_right)
def _upper_right(m):
    if not _matrices(m):
        return None
    return lambda m: m[:m.shape[0] // 2, m.shape[1] // 2:].copy()


@numba_twin(diagonal_blocks)
def _diagonal_blocks(m):
    if not _matrices(m):
        return None

    def impl(m):
        n = m.shape[0] // 2
        return m[:n, :n] + m[n:, n:]
    return impl


@numba_twin(tril_half)
def _tril_half(x):
    if not _matrices(x):
        return None
    return lambda x: np.tril(x, -1) + 0.5 * np.tril(np.triu(x))


@numba_twin(symmetric_from)
def _symmetric_from(x, UPLO="L"):
    if not _matrices(x):
        return None

    def impl(x, UPLO="L"):
        if UPLO == "L":
            return np.tril(x) + np.ascontiguousarray(np.tril(x, -1).T)
        return np.triu(x) + np.ascontiguousarray(np.triu(x, 1).T)
    return impl


@numba_twin(symmetric_cotangent)
def _symmetric_cotangent(p, UPLO="L"):
    if not _matrices(p):
        return None

    def impl(p, UPLO="L"):
        if UPLO == "L":
            return np.tril(p) + np.tril(np.ascontiguousarray(p.T), -1)
        return np.triu(p) + np.triu(np.ascontiguousarray(p.T), 1)
    return impl


@numba_twin(eigvecsh)
def _eigvecsh(a, UPLO="L"):
    if not _matrices(a):
        return None
    return lambda a, UPLO="L": np.linalg.eigh(symmetric_from(a, UPLO))[1]


@numba_twin(pair_differences)
def _pair_differences(w):
    if not (isinstance(w, types.Array) and w.ndim == 1):
        return None

    def impl(w):
        n = w.shape[0]
        out = np.empty((n, n), w.dtype)
        for i in range(n):
            for j in range(n):
                out[i, j] = w[j] - w[i]
        return out
    return impl


@numba_twin(inverse_gaps)
def _inverse_gaps(w):
    if not (isinstance(w, types.Array) and w.ndim == 1):
        return None

    def impl(w):
        n = w.shape[0]
        out = np.zeros((n, n), w.dtype)
        for i in range(n):
            for j in range(n):
                if i != j:
                    out[i, j] = 1.0 / (w[j] - w[i])
        return out
    return impl


@numba_twin(columns_scaled)
def _columns_scaled(v, w):
    if not (_matrices(v) and isinstance(w, types.Array) and w.ndim == 1):
        return None
    return lambda v, w: v * w


@numba_twin(eigen_outer)
def _eigen_outer(v, w):
    if not (_matrices(v) and isinstance(w, types.Array) and w.ndim == 1):
        return None
    return lambda v, w: (v * w) @ np.ascontiguousarray(v.T)


@numba_twin(eigen_diagonal)
def _eigen_diagonal(v, m):
    if not _matrices(v, m):
        return None
    return lambda v, m: np.sum(v * (np.ascontiguousarray(m) @ np.ascontiguousarray(v)), axis=0)


@numba_twin(np.linalg.svdvals)
def _np_svdvals(x):
    if not _matrices(x):
        return None
    return lambda x: np.linalg.svd(x, full_matrices=False)[1]


@numba_twin(svd_checked)
def _svd_checked(s, a, full_matrices=True, hermitian=False):
    if not _matrices(a):
        return None

    def impl(s, a, full_matrices=True, hermitian=False):
        if hermitian or (full_matrices and a.shape[0] != a.shape[1]):
            raise UnsupportedDerivativeError(_SVD_FORMS, None, "np.linalg.svd")
        return s
    return impl


@numba_twin(qr_checked)
def _qr_checked(r, a):
    if not _matrices(a):
        return None

    def impl(r, a):
        if a.shape[0] < a.shape[1]:
            raise UnsupportedDerivativeError(_QR_FORMS, None, "np.linalg.qr")
        return r
    return impl


@numba_twin(outer_columns)
def _outer_columns(u, v):
    if not (isinstance(u, types.Array) and isinstance(v, types.Array) and u.ndim == v.ndim
            and u.ndim in (1, 2)):
        return None
    if u.ndim == 1:
        return lambda u, v: np.outer(u, v)
    return lambda u, v: np.ascontiguousarray(u) @ np.ascontiguousarray(v.T)


@numba_twin(lstsq_checked)
def _lstsq_checked(x, rank, a):
    if not _matrices(a):
        return None

    def impl(x, rank, a):
        if rank < min(a.shape[0], a.shape[1]):
            raise UnsupportedDerivativeError(_LSTSQ_FORMS, None, "np.linalg.lstsq")
        return x
    return impl


@numba_twin(residual_weights)
def _residual_weights(gres, like):
    if not (isinstance(gres, types.Array) and gres.ndim == 1):
        return None
    if is_scalar(like):
        return lambda gres, like: gres[0] if gres.size > 0 else 0.0
    if not (isinstance(like, types.Array) and like.ndim == 1):
        return None

    def impl(gres, like):
        if gres.size == 0:
            return np.zeros(like.shape)
        return gres.astype(np.float64)
    return impl


@numba_twin(residual_weights_adjoint)
def _residual_weights_adjoint(w, gres):
    if not (isinstance(gres, types.Array) and gres.ndim == 1):
        return None
    if is_scalar(w):
        def scalar(w, gres):
            out = np.zeros(gres.shape)
            if gres.size > 0:
                out[0] = w
            return out
        return scalar
    if not (isinstance(w, types.Array) and w.ndim == 1):
        return None

    def impl(w, gres):
        if gres.size == 0:
            return np.zeros(gres.shape)
        return w.astype(np.float64)
    return impl


def _twin_lstsq_rcond_none():
    """NumPy's default ``rcond=None`` for Numba's lstsq (which takes a number only):
    machine precision times max(m, n), as NumPy does."""
    @numba_twin(np.linalg.lstsq)
    def _lstsq(a, b, rcond=None):
        if not (_matrices(a) and isinstance(rcond, (types.NoneType, types.Omitted))
                and not (isinstance(rcond, types.Omitted) and rcond.value is not None)):
            return None

        def impl(a, b, rcond=None):
            return np.linalg.lstsq(a, b, np.finfo(np.float64).eps * max(a.shape[0], a.shape[1]))
        return impl


_twin_lstsq_rcond_none()


def _triangle_twin(m, lower):
    return np.tril(m) if lower else np.triu(m)


@numba_twin(triangular_outer)
def _triangular_outer(y, x, trans=0, lower=False):
    if not (isinstance(x, types.Array) and isinstance(y, types.Array) and x.ndim in (1, 2)):
        return None
    tri = numba.njit(_triangle_twin)
    if x.ndim == 1:
        product = numba.njit(lambda y, x: np.outer(y, x))
    else:
        product = numba.njit(lambda y, x: np.ascontiguousarray(y) @ np.ascontiguousarray(x.T))

    def impl(y, x, trans=0, lower=False):
        yx = product(y, x)
        if trans != 0:
            yx = np.ascontiguousarray(yx.T)
        return -tri(yx, lower)
    return impl


@numba_twin(triangular_apply)
def _triangular_apply(c, x, trans=0, lower=False):
    if not (_matrices(c) and isinstance(x, types.Array) and x.ndim in (1, 2)):
        return None
    tri = numba.njit(_triangle_twin)

    def impl(c, x, trans=0, lower=False):
        m = tri(c, lower)
        if trans != 0:
            m = np.ascontiguousarray(m.T)
        return -(m @ np.ascontiguousarray(x))
    return impl


def _substitute(a, b, transposed, lower):
    """Solve ``T x = b`` (``T^T x = b`` if ``transposed``) for the lower or upper triangle
    ``T`` of ``a`` by substitution; ``b`` is a matrix (one column per system)."""
    n = a.shape[0]
    x = np.empty(b.shape, b.dtype)
    forward = lower != transposed          # T^T of a lower triangle is upper
    for step in range(n):
        i = step if forward else n - 1 - step
        row = b[i].copy()
        for j in range(n):
            if (j < i) if forward else (j > i):
                coef = a[j, i] if transposed else a[i, j]
                row = row - coef * x[j]
        x[i] = row / a[i, i]
    return x


def _trans_flag(trans):
    return trans != 0 and trans != "N"


def _twin_solve_triangular():
    """Register the Numba version of ``scipy.linalg.solve_triangular`` (if scipy is there)."""
    try:
        from scipy.linalg import solve_triangular
    except ImportError:                  # pragma: no cover
        return

    @numba_twin(solve_triangular)
    def _solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_a=False,
                          overwrite_b=False, check_finite=True):
        if not (_matrices(a) and isinstance(b, types.Array) and b.ndim in (1, 2)):
            return None
        substitute = numba.njit(_substitute)
        flag = numba.njit(_trans_flag)
        if b.ndim == 1:
            def vector(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_a=False,
                       overwrite_b=False, check_finite=True):
                columns = np.ascontiguousarray(b).reshape((b.shape[0], 1))
                return substitute(a, columns, flag(trans), lower)[:, 0].copy()
            return vector

        def matrix(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_a=False,
                   overwrite_b=False, check_finite=True):
            return substitute(a, b, flag(trans), lower)
        return matrix


_twin_solve_triangular()


@numba_twin(np.linalg.eigvalsh)
def _np_eigvalsh(a, UPLO="L"):
    """``np.linalg.eigvalsh`` naming its triangle (Numba's own reads the lower one)."""
    if not (_matrices(a) and isinstance(UPLO, (types.UnicodeType, types.StringLiteral))):
        return None
    return lambda a, UPLO="L": np.linalg.eigvalsh(symmetric_from(a, UPLO))



# --------------------------------------------------------------------------- einsum in loops
# Numba has no np.einsum.  With its subscripts known when compiling, an einsum and each
# cotangent of one is a loop nest over every letter: out[result] += product of the factors
# at their letters (a repeated letter is a diagonal, a letter of one operand only a sum).

def _einsum_loop_source(result, factors, sizes):
    """Body of a kernel: ``factors`` are (name, letters) pairs, ``sizes`` maps each letter
    to the expression of its length, ``result`` the letters of the returned array."""
    letters = list(dict.fromkeys(result + "".join(lets for _, lets in factors)))
    lines = [f"n_{c} = {sizes[c]}" for c in letters]
    lines.append(f"out = np.zeros(({''.join(f'n_{c}, ' for c in result)}))" if result
                 else "out = 0.0")
    for depth, c in enumerate(letters):
        lines.append("    " * depth + f"for i_{c} in range(n_{c}):")
    product = " * ".join(name if not lets else f"{name}[{', '.join('i_' + c for c in lets)}]"
                         for name, lets in factors)
    target = f"out[{', '.join('i_' + c for c in result)}]" if result else "out"
    lines.append("    " * len(letters) + f"{target} += {product}")
    lines.append("out")
    return "\n".join(lines)


_KERNELS: dict = {}


def _kernel(params, result, factors, shapes):
    """The compiled-by-Numba implementation ``def impl(<params>)`` of one loop nest;
    ``shapes`` are (array name, letters) pairs the lengths are read from."""
    sizes = {}
    for name, lets in shapes:
        for axis, c in enumerate(lets):
            sizes.setdefault(c, f"{name}.shape[{axis}]")
    body = _einsum_loop_source(result, factors, sizes)
    key = (params, body)
    if key not in _KERNELS:
        lines = body.split("\n")
        lines[-1] = "return " + lines[-1]
        scope = {"np": np}
        exec(f"def impl({params}):\n" + "".join(f"    {ln}\n" for ln in lines), scope)
        _KERNELS[key] = scope["impl"]
    return _KERNELS[key]


def _literal(subscripts):
    """The subscripts' text when Numba knows it, else None (then ask for the literal)."""
    return subscripts.literal_value if isinstance(subscripts, types.StringLiteral) else None


def _absent(b) -> bool:
    return b is None or isinstance(b, (types.NoneType, types.Omitted))


def _retyped(params):
    """An implementation asking Numba to type the call again with the subscripts' value."""
    from numba import literally
    scope = {"literally": literally}
    exec(f"def impl({params}):\n    return literally(subscripts)\n", scope)
    return scope["impl"]


def _einsum_twin(subscripts, a, b=None):
    params = "subscripts, a, b=None"
    text = _literal(subscripts)
    if text is None:
        return _retyped(params) if isinstance(subscripts, types.UnicodeType) else None
    if "." in text or not isinstance(a, types.Array) or not (
            _absent(b) or isinstance(b, types.Array)):
        return None
    inputs, output = _einsum_parts(text, 1 if _absent(b) else 2)
    operands = [("a", inputs[0])] + ([] if _absent(b) else [("b", inputs[1])])
    return _kernel(params, output, operands, operands)


def _einsum_cotangent_kernel(k, params, g, subscripts, b):
    """The kernel of the cotangent of operand ``k`` (``einsum_grad_a`` or ``_b``)."""
    text = _literal(subscripts)
    if text is None:
        return _retyped(params) if isinstance(subscripts, types.UnicodeType) else None
    if "." in text:
        return None
    inputs, output = _einsum_parts(text, 1 if _absent(b) else 2)
    names = ["a", "b"][:len(inputs)]
    others = [(n, s) for j, (n, s) in enumerate(zip(names, inputs)) if j != k]
    factors = [("g", output if isinstance(g, types.Array) else "")] + others
    return _kernel(params, inputs[k], factors, list(zip(names, inputs)) + [("g", output)])


numba_twin(np.einsum, einsum_of)(_einsum_twin)


@numba_twin(einsum_grad_a)
def _einsum_grad_a(g, subscripts, a, b=None):
    return _einsum_cotangent_kernel(0, "g, subscripts, a, b=None", g, subscripts, b)


@numba_twin(einsum_grad_b)
def _einsum_grad_b(g, subscripts, a, b):
    return _einsum_cotangent_kernel(1, "g, subscripts, a, b", g, subscripts, b)


# --------------------------------------------------------------------------- tensordot in loops
def _int_axes(axes):
    """An integer ``axes`` of np.tensordot known when compiling, or None."""
    if isinstance(axes, int):
        return axes
    if isinstance(axes, types.Omitted):
        return axes.value
    if isinstance(axes, types.IntegerLiteral):
        return axes.literal_value
    return None


def _tensordot_letters(a_nd, b_nd, k):
    """The einsum letters of np.tensordot(a, b, k): a's, b's and the result's."""
    a = "abcdefghijklm"[:a_nd]
    b = a[a_nd - k:] + "nopqrstuvwxyz"[:b_nd - k]
    return a, b, a[:a_nd - k] + b[k:]


def _tensordot_kernel(params, k_operand, a, b, axes):
    """The loop kernel of np.tensordot (``k_operand`` None) or of the cotangent of one of
    its operands, for integer ``axes``; asks for the literal when Numba has only the type."""
    if isinstance(axes, types.Integer) and not isinstance(axes, types.IntegerLiteral):
        return _retyped_axes(params)
    k = _int_axes(axes)
    if k is None or not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None
    la, lb, out = _tensordot_letters(a.ndim, b.ndim, k)
    shapes = [("a", la), ("b", lb)]
    if k_operand is None:
        return _kernel(params, out, shapes, shapes)
    other = shapes[1 - k_operand]
    return _kernel(params, (la, lb)[k_operand], [("g", out), other], shapes + [("g", out)])


def _retyped_axes(params):
    from numba import literally
    scope = {"literally": literally}
    exec(f"def impl({params}):\n    return literally(axes)\n", scope)
    return scope["impl"]


@numba_twin(np.tensordot)
def _np_tensordot(a, b, axes=2):
    return _tensordot_kernel("a, b, axes=2", None, a, b, axes)


@numba_twin(tensordot_grad_a)
def _tensordot_grad_a(g, a, b, axes=2):
    return _tensordot_kernel("g, a, b, axes=2", 0, a, b, axes)


@numba_twin(tensordot_grad_b)
def _tensordot_grad_b(g, a, b, axes=2):
    return _tensordot_kernel("g, a, b, axes=2", 1, a, b, axes)
