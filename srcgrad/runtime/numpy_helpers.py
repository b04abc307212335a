"""Small NumPy helpers that derivative rules (and so the generated code) call.

A rule is a single expression that the code generator pastes into the adjoint; anything
that needs a loop, a branch on shapes or more than one line lives here instead, under a
name that says what it computes.  Every helper accepts Python floats, NumPy scalars and
ndarrays, returns a scalar for scalar inputs, and keeps the floating dtype of its inputs
(float32 stays float32).

Below the helpers, their Numba twins (``runtime/twins.py``): the typing function that
``numba.extending.overload`` gets for each, applied when the Numba backend loads.  Helper
and twin are kept in one module so that a change to one is seen beside the other, which
is why this module runs past 500 lines (the Python half alone is under 500).
"""

from __future__ import annotations

import math

import numpy as np

from srcgrad.errors import UnsupportedDerivativeError
from srcgrad.runtime.broadcast import as_scalar, unbroadcast, zeros_like  # noqa: F401 (re-exported)
from srcgrad.runtime.twins import (from_front, is_scalar, literal_axis, njit, no_axis, numba, numba_twin,
                                    to_front, types, widths_impl)
from srcgrad.runtime.twins import cut

__all__ = [
    "zeros_like", "reshape_as", "unreduce", "reverse_cumsum", "reduced_count", "centered", "prod_others",
    "prod_others_jvp", "two_norm_weight", "inverse_or_zero",
    "extremum_mask", "winner_share", "log_or_zero", "clip_inside", "clip_below",
    "clip_above", "inverse_axes", "unconcatenate", "unstack", "dot_grad_a", "dot_grad_b",
    "matmul_grad_a", "matmul_grad_b", "inner_grad_a", "inner_grad_b", "trace_grad",
    "diag_grad", "mT", "norm_direction", "solve_adjoint", "solve_outer", "col_matmul",
]


# --------------------------------------------------------------------------- shapes

def _float_dtype(*xs):
    """The floating dtype NumPy would compute in for ``xs`` (float64 for Python floats)."""
    return np.result_type(*xs, 1.0)


def _axes(axis, ndim):
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of indices."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(int(a) % ndim for a in axis))
    return (int(axis) % ndim,)


def reshape_as(g, x, order="C"):
    """``g`` reshaped to ``x``'s shape (a scalar if ``x`` is one).

    Why: the cotangent of a reshaping primitive (``np.reshape``, ``ravel``, ``squeeze``,
    ``expand_dims``, ``np.copy``) is the output cotangent laid back out in the input's
    shape, with the same ``order`` as the forward reshape.
    """
    shape = np.shape(x)
    if shape == ():
        return as_scalar(np.reshape(g, ()))
    if np.shape(g) == shape:
        return g
    return np.reshape(g, shape, order=order)


def unreduce(g, a, axis=None, keepdims=False):
    """The cotangent ``g`` of a reduction of ``a`` over ``axis``, repeated over the reduced
    axes so it has ``a``'s shape.

    Why: every entry of ``a`` that a sum (max, norm, ...) reduced receives the output's
    cotangent; with ``keepdims=False`` the reduced axes must first be re-inserted.  Returns
    a fresh writeable array (a scalar if ``a`` is one).
    """
    shape = np.shape(a)
    if shape == ():
        return as_scalar(np.reshape(g, ()))
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.array(np.broadcast_to(g, shape))


def reverse_cumsum(g, axis=None):
    """Sums of ``g`` from each entry to the end along ``axis`` (all of ``g``, flattened, for
    ``axis=None``): the cotangent of ``np.cumsum``, whose output ``k`` adds inputs ``0..k``.

    Why a helper: spelled with ``np.flip`` the rule did not compile under Numba (no
    ``np.flip`` there) and was not differentiable again (``np.flip`` has no rule); this
    helper has a Numba twin and rules of its own (it is linear; its adjoint is ``cumsum``).
    """
    if axis is None:
        g = np.ravel(g)
        axis = 0
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis)


def reduced_count(a, axis=None):
    """How many entries of ``a`` each output of a reduction over ``axis`` combines (an int).

    Why: ``mean``, ``var`` and ``std`` divide by it.
    """
    shape = np.shape(a)
    n = 1
    for ax in _axes(axis, len(shape)):
        n *= shape[ax]
    return n


def centered(a, axis=None):
    """``a`` minus its mean over ``axis`` (kept broadcastable): the direction of the
    gradient of ``var`` and ``std``."""
    if np.ndim(a) == 0:
        return zeros_like(a)
    return a - np.mean(a, axis=axis, keepdims=True)


def prod_others(a, axis=None):
    """For every entry of ``a``, the product of the *other* entries of its reduction group
    along ``axis``: the derivative of ``np.prod(a, axis)`` with respect to that entry.

    Why: the textbook ``prod / a`` divides by zero when an entry is 0; exclusive products
    from the left and from the right give the exact value everywhere.
    """
    if np.ndim(a) == 0:
        return np.ones_like(a)[()] if isinstance(a, np.generic) else 1.0
    a = np.asarray(a)
    axes = _axes(axis, a.ndim)
    kept = [d for d in range(a.ndim) if d not in axes]
    moved = np.transpose(a, kept + list(axes))
    flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = (left * right).reshape(moved.shape)
    return np.transpose(others, inverse_axes(kept + list(axes), a.ndim))


def prod_others_jvp(t, a, axis=None):
    """The derivative of ``prod_others(a, axis)`` in the direction ``t`` (``a``'s shape):
    for each entry ``j``, the sum over the other entries ``i`` of its group of
    ``t_i * prod(a_k for k not in {i, j})``, exact where entries are zero.

    Why: the second derivative of ``np.prod``.  The Jacobian of ``prod_others`` is
    symmetric (``d P_j / d a_i = d P_i / d a_j``), so this is its vjp as well.  Products
    from the left and from the right are carried with their derivatives (dual numbers),
    never divided.
    """
    if np.ndim(a) == 0:
        return t * 0.0
    a = np.asarray(a)
    t = np.broadcast_to(t, a.shape)
    axes = _axes(axis, a.ndim)
    kept = [d for d in range(a.ndim) if d not in axes]
    order = kept + list(axes)
    moved_a = np.transpose(a, order)
    lead = moved_a.shape[:len(kept)]
    fa = moved_a.reshape(lead + (-1,))
    ft = np.transpose(t, order).reshape(lead + (-1,))
    dtype = np.result_type(fa, ft)
    n = fa.shape[-1]
    left_v, left_d = np.empty(fa.shape, dtype), np.empty(fa.shape, dtype)
    right_v, right_d = np.empty(fa.shape, dtype), np.empty(fa.shape, dtype)
    value, slope = np.ones(lead, dtype), np.zeros(lead, dtype)
    for j in range(n):                  # products of the entries before j
        left_v[..., j], left_d[..., j] = value, slope
        value, slope = value * fa[..., j], slope * fa[..., j] + value * ft[..., j]
    value, slope = np.ones(lead, dtype), np.zeros(lead, dtype)
    for j in range(n - 1, -1, -1):      # ... and after j
        right_v[..., j], right_d[..., j] = value, slope
        value, slope = value * fa[..., j], slope * fa[..., j] + value * ft[..., j]
    out = (left_v * right_d + left_d * right_v).reshape(moved_a.shape)
    return np.transpose(out, inverse_axes(order, a.ndim))


def two_norm_weight(x, ord=None, axis=None):
    """1.0 when ``np.linalg.norm(x, ord, axis)`` is a 2-norm (or Frobenius norm), whose
    gradient direction ``x / norm`` has a derivative; 0.0 for the norms whose direction is
    piecewise constant (vector orders 0, 1, inf, -inf; matrix orders 1, -1, inf, -inf).
    Why: the second derivative of norm.  The other orders (vector p-norms, matrix 2-norm
    and nuclear norm) have second derivatives these rules do not give: refused."""
    vector = _is_vector_norm(x, axis)
    if ord is None or (isinstance(ord, str) and ord == "fro") or (vector and ord == 2):
        return 1.0
    if not isinstance(ord, str) and ord in ((0, 1, np.inf, -np.inf) if vector else (1, -1, np.inf, -np.inf)):
        return 0.0
    raise UnsupportedDerivativeError(
        f"no second derivative rule for np.linalg.norm with ord={ord!r} on a "
        f"{'vector' if vector else 'matrix'} norm", construct="np.linalg.norm")


def extremum_mask(a, ans, axis=None, keepdims=False):
    """Weights saying which entries of ``a`` produced the max (or min) ``ans`` over ``axis``:
    ``1/k`` at each of the ``k`` entries equal to the extremum, 0 elsewhere.

    Why: the cotangent of ``np.max`` flows to the maximal entry; at ties it is split evenly
    among all maximal entries, so the weights of each reduction group sum to 1 (the
    directional derivative of ``max`` along a direction that moves all tied entries
    together).
    """
    if np.ndim(a) == 0:
        return _float_dtype(a).type(1.0)
    dtype = _float_dtype(a)
    hit = (a == unreduce(ans, a, axis, keepdims)).astype(dtype)
    return hit / np.sum(hit, axis=axis, keepdims=True)


def winner_share(x, y, ans):
    """The fraction of ``ans = maximum(x, y)`` (or ``minimum``, or builtin ``max``/``min``)
    that came from ``x``: 1 where ``x`` alone equals ``ans``, 1/2 at ties, 0 elsewhere.

    Why: the cotangent of an elementwise max/min goes to the operand that won; at ties it
    is split evenly so the two shares always sum to 1.  Has the broadcast shape of
    ``x`` and ``y`` and their floating dtype.
    """
    share = np.where(x == ans, np.where(x == y, 0.5, 1.0), 0.0).astype(_float_dtype(x, y))
    return as_scalar(share)


def log_or_zero(x):
    """``log(x)``, with 0 where ``x == 0``.

    Why: the derivative of ``x ** y`` with respect to ``y`` is ``x ** y * log(x)``; at
    ``x == 0`` (and ``y > 0``) its limit is 0, while the literal product is ``0 * -inf``,
    which is NaN.  A Python number gives a Python float (so it does not promote float32).
    """
    if not isinstance(x, (np.ndarray, np.generic)):
        return math.log(x) if x != 0 else 0.0
    return as_scalar(np.log(np.where(x == 0, 1, x)))


def inverse_or_zero(x):
    """``1 / x``, with 0 where ``x == 0``: the derivative of ``log_or_zero`` (``log``'s away
    from 0, where ``log_or_zero`` is constant).  Why: the second derivative of ``x ** y``."""
    if not isinstance(x, (np.ndarray, np.generic)):
        return 1.0 / x if x != 0 else 0.0
    nonzero = x != 0
    return as_scalar(np.where(nonzero, 1, 0) / np.where(nonzero, x, 1))


def _clip_dtype(a, a_min, a_max):
    return _float_dtype(*[v for v in (a, a_min, a_max) if v is not None])


def clip_inside(a, a_min, a_max):
    """0/1 weights (broadcast shape, floating dtype of the operands): 1 where
    ``np.clip(a, a_min, a_max)`` passes ``a`` through, i.e. ``a_min <= a <= a_max``;
    ``None`` bounds are absent.

    Why: the derivative of clip with respect to ``a``.  Entries exactly on a bound count
    as passed through, so exactly one of ``clip_inside``, ``clip_below`` and
    ``clip_above`` is 1 for every entry.
    """
    inside = np.ones(np.broadcast_shapes(np.shape(a), np.shape(a_min), np.shape(a_max)), bool)
    if a_min is not None:
        inside = inside & (a >= a_min)
    if a_max is not None:
        inside = inside & (a <= a_max)
    return as_scalar(inside.astype(_clip_dtype(a, a_min, a_max)))


def clip_below(a, a_min, a_max):
    """0/1 weights: 1 where ``np.clip`` returns ``a_min`` (``a < a_min``, and ``a_min`` is
    not itself above ``a_max``).  Why: the derivative with respect to ``a_min``."""
    if a_min is None:
        return 0.0
    below = np.asarray(a < a_min)
    if a_max is not None:
        below = below & (a_min <= a_max)
    return as_scalar(below.astype(_clip_dtype(a, a_min, a_max)))


def clip_above(a, a_min, a_max):
    """0/1 weights: 1 where ``np.clip`` returns ``a_max`` (``max(a, a_min) > a_max``).
    Why: the derivative with respect to ``a_max``."""
    if a_max is None:
        return 0.0
    low = a if a_min is None else np.maximum(a, a_min)
    return as_scalar(np.asarray(low > a_max).astype(_clip_dtype(a, a_min, a_max)))


def inverse_axes(axes, ndim):
    """The permutation that undoes ``np.transpose(x, axes)`` for an ``ndim``-d ``x``
    (``None`` for ``axes=None``, whose inverse is again reversing the axes).

    Why: the cotangent of a transpose is the cotangent transposed back.
    """
    if axes is None:
        return None
    return tuple(int(i) for i in np.argsort([int(a) % ndim for a in axes]))


def transpose_back(g, axes=None):
    """The cotangent of ``np.transpose(a, axes)``: ``g`` transposed by the inverse axes."""
    return np.transpose(g, inverse_axes(axes, np.ndim(g)))


def unconcatenate(g, arrays, axis=0):
    """The cotangent ``g`` of ``np.concatenate(arrays, axis)`` cut back into one piece per
    input, each of that input's shape (a tuple).

    Why: each input's cotangent is its own slab of the output's cotangent; with
    ``axis=None`` the inputs were flattened first.
    """
    if axis is None:
        sizes = [np.size(x) for x in arrays]
        pieces = np.split(np.ravel(g), np.cumsum(sizes)[:-1])
    else:
        sizes = [np.shape(x)[axis] for x in arrays]
        pieces = np.split(g, np.cumsum(sizes)[:-1], axis=axis)
    return tuple(reshape_as(p, x) for p, x in zip(pieces, arrays))


def unstack(g, arrays, axis=0):
    """The cotangent ``g`` of ``np.stack(arrays, axis)`` split into one slice per input
    (a tuple; scalars for scalar inputs).

    Why: input ``k`` is the slice ``k`` of the output along the new ``axis``.
    """
    g = np.moveaxis(g, axis, 0)
    return tuple(reshape_as(g[k], x) for k, x in enumerate(arrays))


def unarray(g, obj):
    """The cotangent ``g`` of ``np.array(obj)``: one entry per item when ``obj`` is a list
    or tuple (as ``np.stack`` along axis 0), else ``g`` in ``obj``'s shape.

    Why: ``np.array([x, y])`` is how users build a vector from scalars; ``np.array(a)`` of
    an array is a copy.
    """
    if isinstance(obj, (list, tuple)):
        return unstack(g, obj, 0)
    return reshape_as(g, obj)


# --------------------------------------------------------------------------- products

def dot_grad_a(g, a, b):
    """Cotangent of ``a`` in ``np.dot(a, b)`` for every case ``np.dot`` accepts: scalars
    (a product), ``b`` 1-d (contract ``a``'s last axis) and ``b`` n-d (contract ``a``'s
    last axis with ``b``'s second-to-last).  Why: ``g @ b.T`` only covers 2-d operands.
    """
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(g * b, a)
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    if b_nd == 1:
        return np.multiply.outer(g, b)
    b_free = list(range(b_nd - 2)) + [b_nd - 1]
    return np.tensordot(g, b, axes=(list(range(a_nd - 1, np.ndim(g))), b_free))


def dot_grad_b(g, a, b):
    """Cotangent of ``b`` in ``np.dot(a, b)`` (see ``dot_grad_a``)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(g * a, b)
    a_lead = list(range(np.ndim(a) - 1))
    if np.ndim(b) == 1:
        return np.tensordot(a, g, axes=(a_lead, a_lead))
    return np.moveaxis(np.tensordot(a, g, axes=(a_lead, a_lead)), 0, -2)


def _matmul_operands(g, a, b):
    """``a``, ``b`` and ``g`` with matmul's 1-d promotion made explicit (all >= 2-d)."""
    A = a[None, :] if np.ndim(a) == 1 else a
    B = b[:, None] if np.ndim(b) == 1 else b
    G = g
    if np.ndim(b) == 1:      # re-insert the dropped column axis, then the dropped row axis
        G = np.expand_dims(G, -1)
    if np.ndim(a) == 1:
        G = np.expand_dims(G, -2)
    return G, A, B


def matmul_grad_a(g, a, b):
    """Cotangent of ``a`` in ``a @ b``: ``g @ b^T``, with matmul's promotion of 1-d
    operands and its broadcasting of batch axes undone.  Why: the plain formula is only
    right when both operands are >= 2-d and have the same batch shape.
    """
    G, A, B = _matmul_operands(g, a, b)
    return reshape_as(unbroadcast(G @ mT(B), A), a)


def matmul_grad_b(g, a, b):
    """Cotangent of ``b`` in ``a @ b``: ``a^T @ g`` (see ``matmul_grad_a``)."""
    G, A, B = _matmul_operands(g, a, b)
    return reshape_as(unbroadcast(mT(A) @ G, B), b)


def inner_grad_a(g, a, b):
    """Cotangent of ``a`` in ``np.inner(a, b)`` (contracts the last axes of both; a
    product if either is a scalar)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(g * b, a)
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    return np.tensordot(g, b, axes=(list(range(a_nd - 1, np.ndim(g))), list(range(b_nd - 1))))


def inner_grad_b(g, a, b):
    """Cotangent of ``b`` in ``np.inner(a, b)`` (see ``inner_grad_a``)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(g * a, b)
    a_lead = list(range(np.ndim(a) - 1))
    return np.tensordot(g, a, axes=(a_lead, a_lead))


def trace_grad(g, a, offset=0, axis1=0, axis2=1):
    """Cotangent of ``a`` in ``np.trace(a, offset, axis1, axis2)``: ``g`` placed on the
    ``offset`` diagonal of the (``axis1``, ``axis2``) planes, zeros elsewhere."""
    shape = np.shape(a)
    ax1, ax2 = axis1 % len(shape), axis2 % len(shape)
    eye = np.eye(shape[ax1], shape[ax2], k=offset, dtype=np.result_type(g))
    if ax1 > ax2:
        eye = eye.T
    eye_shape = [1] * len(shape)
    eye_shape[ax1], eye_shape[ax2] = shape[ax1], shape[ax2]
    return np.expand_dims(g, (min(ax1, ax2), max(ax1, ax2))) * eye.reshape(eye_shape)


def diag_grad(g, v, k=0):
    """Cotangent of ``v`` in ``np.diag(v, k)``: for 1-d ``v`` (which built a matrix) the
    ``k``-th diagonal of ``g``; for 2-d ``v`` (whose diagonal was extracted) ``g`` placed
    on the ``k``-th diagonal of a zero matrix of ``v``'s shape."""
    if np.ndim(v) == 1:
        return np.diagonal(g, k).copy()
    out = np.zeros(np.shape(v), dtype=np.result_type(g))
    rows = np.arange(len(g)) + max(-k, 0)
    out[rows, rows + k] = g
    return out


# --------------------------------------------------------------------------- linalg

def mT(x):
    """``x`` with its last two axes swapped (the matrix transpose of a stack of matrices)."""
    return np.swapaxes(x, -1, -2)


def _is_vector_norm(x, axis):
    if axis is None:
        return np.ndim(x) == 1
    return isinstance(axis, (int, np.integer)) or len(axis) == 1


def norm_direction(x, ans, ord=None, axis=None, keepdims=False):
    """The derivative of ``ans = np.linalg.norm(x, ord, axis, keepdims)`` with respect to
    each entry of ``x`` (``x``'s shape).

    Why: each order has its own gradient.  The 2-norm and Frobenius norm (``ord`` None,
    ``'fro'``, or 2 for vectors): ``x / ans``; vector p-norms ``sign(x) |x|^(p-1) /
    ans^(p-1)``, the 1-norm ``sign(x)``, inf (-inf) ``sign(x)`` at the largest (smallest)
    ``|x|``, ties splitting it evenly, and order 0 (a count) nothing.  Matrix norms are
    handled by ``_matrix_norm_direction``.  At ``x == 0`` the 2-norm gradient is undefined
    and comes out NaN.
    """
    vector = _is_vector_norm(x, axis)
    if ord is None or (isinstance(ord, str) and ord == "fro") or (vector and ord == 2):
        return x / unreduce(ans, x, axis, keepdims)
    if not vector:
        return _matrix_norm_direction(x, ans, ord, axis)
    if isinstance(ord, str):
        raise ValueError(f"invalid norm order {ord!r} for vectors")
    if ord == 1:
        return np.sign(x)
    if ord == 0:
        return zeros_like(x)
    if ord in (np.inf, -np.inf):
        size = np.abs(x)
        hit = (size == unreduce(ans, x, axis, keepdims)).astype(_float_dtype(x))
        return np.sign(x) * hit / unreduce(np.sum(hit, axis=axis), x, axis)
    return np.sign(x) * (np.abs(x) / unreduce(ans, x, axis, keepdims)) ** (ord - 1)


def _matrix_norm_direction(x, ans, ord, axis):
    """The gradient of a matrix norm over the axes ``axis`` (the last two of a 2-d ``x``):
    orders 1 and inf (and -1, -inf) have ``sign(x)`` on the column (row) whose absolute
    sum is the extremum, 2 and -2 ``u v^T`` for the largest (smallest) singular value,
    ``'nuc'`` ``U V^T`` (distinct, nonzero singular values)."""
    rows, cols = (0, 1) if axis is None else (axis[0] % np.ndim(x), axis[1] % np.ndim(x))
    m = np.moveaxis(x, (rows, cols), (-2, -1))
    n = np.reshape(ans, m.shape[:-2])
    if isinstance(ord, str) and ord == "nuc":
        u, s, vh = np.linalg.svd(m, full_matrices=False)
        d = u @ vh
    elif ord in (2, -2):
        u, s, vh = np.linalg.svd(m, full_matrices=False)
        k = 0 if ord == 2 else -1
        d = u[..., :, k:k + 1 or None] @ vh[..., k:k + 1 or None, :]
    elif ord in (1, -1, np.inf, -np.inf):
        along = -2 if ord in (1, -1) else -1        # columns sum down the rows
        hit = (np.sum(np.abs(m), axis=along) == n[..., None]).astype(_float_dtype(x))
        share = np.expand_dims(hit / np.sum(hit, axis=-1, keepdims=True), along)
        d = np.sign(m) * share
    else:
        raise ValueError(f"invalid norm order {ord!r} for matrices")
    return np.moveaxis(d, (-2, -1), (rows, cols))


def solve_adjoint(a, g, b):
    """``y = solve(a^T, g)`` with ``b``'s vector/matrix interpretation (NumPy 2: ``b`` is a
    vector only when it is 1-d, even if ``a`` is a stack of matrices); the rules of
    ``np.linalg.solve`` are written with it, ``solve_outer`` and ``col_matmul``."""
    if np.ndim(b) == 1 and np.ndim(a) > 2:
        return np.linalg.solve(mT(a), np.asarray(g)[..., None])[..., 0]
    return np.linalg.solve(mT(a), g)


def solve_outer(y, x, a, b):
    """``-y x^T`` summed onto ``a``'s shape (outer products of vectors when ``b`` is 1-d):
    the cotangent of ``a`` in ``x = solve(a, b)`` is ``solve_outer(solve(a^T, g), x, a, b)``."""
    if np.ndim(b) == 1:
        return unbroadcast(-(np.asarray(y)[..., :, None] * np.asarray(x)[..., None, :]), a)
    return unbroadcast(-(y @ mT(x)), a)


def col_matmul(m, x, b):
    """``m @ x`` with ``x`` a column (per stack) when ``b`` is 1-d, in ``x``'s form."""
    if np.ndim(b) == 1:
        return (m @ np.asarray(x)[..., None])[..., 0]
    return m @ x


# ----------------------------------------------------------------------- Numba twins
# (see runtime/twins.py: recorded here, applied by srcgrad.backends.numba)
@numba_twin(unstack)
def _unstack(g, arrays, axis=0):
    if not isinstance(g, types.Array):
        return None
    k = literal_axis(axis, g.ndim)
    if k is None:
        return None
    front = to_front(k, g.ndim)
    if g.ndim == 1:                                     # the pieces were numbers
        return lambda g, arrays, axis=0: [g[j] for j in range(len(arrays))]

    def impl(g, arrays, axis=0):
        parts = g.transpose(front)
        return [np.ascontiguousarray(parts[j]) for j in range(len(arrays))]
    return impl



@numba_twin(unconcatenate)
def _unconcatenate(g, arrays, axis=0):
    if not isinstance(g, types.Array):
        return None
    k = literal_axis(axis, g.ndim)
    if k is None:
        return None
    front, back = to_front(k, g.ndim), from_front(k, g.ndim)
    widths = widths_impl(arrays, k)
    cut_ = njit(cut)
    return lambda g, arrays, axis=0: cut_(g, widths(arrays), front, back)



@numba_twin(unreduce)
def _unreduce(g, a, axis=None, keepdims=False):
    if is_scalar(a):
        return lambda g, a, axis=None, keepdims=False: g
    if isinstance(axis, (types.NoneType, types.Omitted)) or axis is None:
        if isinstance(g, types.Array):           # keepdims=True: g holds the one total
            return lambda g, a, axis=None, keepdims=False: np.full(a.shape, g.ravel()[0])

        def impl(g, a, axis=None, keepdims=False):
            return np.full(a.shape, g)
        return impl
    return None


@numba_twin(unreduce)
def _unreduce_axis(g, a, axis=None, keepdims=False):
    if not (isinstance(a, types.Array) and a.ndim == 2 and isinstance(axis, types.Integer)):
        return None

    def impl(g, a, axis=None, keepdims=False):
        flat = np.ravel(np.asarray(g))
        out = np.empty(a.shape, flat.dtype)
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                out[i, j] = flat[j] if axis == 0 else flat[i]
        return out
    return impl


@numba_twin(reverse_cumsum)
def _reverse_cumsum(g, axis=None):
    """Sums from each entry to the end: of the flattened ``g`` (``axis=None``, as cumsum
    flattens), or along the only axis of a 1-d ``g``."""
    one_axis = isinstance(g, types.Array) and g.ndim == 1 and literal_axis(axis, 1) == 0
    if not isinstance(g, types.Array) or not (no_axis(axis) or one_axis):
        return None

    def impl(g, axis=None):
        out = np.ravel(g).copy()
        for k in range(out.shape[0] - 2, -1, -1):
            out[k] += out[k + 1]
        return out
    return impl


def _unreduce_one_axis(g, a, k):
    """Each entry of ``a``'s shape takes the entry of ``g`` with axis ``k`` dropped (``g``
    may keep that axis with length 1 or not have it)."""
    flat = np.ravel(np.asarray(g))
    out = np.empty(a.size, flat.dtype)
    for index in range(a.size):
        rest = index
        pos = 0
        stride = 1
        for d in range(a.ndim - 1, -1, -1):
            i = rest % a.shape[d]
            rest //= a.shape[d]
            if d != k:
                pos += i * stride
                stride *= a.shape[d]
        out[index] = flat[pos]
    return out.reshape(a.shape)


@numba_twin(unreduce)
def _unreduce_any_axis(g, a, axis=None, keepdims=False):
    """A reduction over one axis of an array of any rank but 2 (2 has its own version)."""
    if not (isinstance(a, types.Array) and a.ndim != 2 and isinstance(axis, types.Integer)):
        return None

    kernel = njit(_unreduce_one_axis)

    def impl(g, a, axis=None, keepdims=False):
        return kernel(g, a, axis % a.ndim)
    return impl


@numba_twin(unarray)
def _unarray(g, obj):
    if isinstance(obj, (types.List, types.UniTuple)):
        return lambda g, obj: g          # g[k] is item k's cotangent, as the tuple would be
    return lambda g, obj: np.ascontiguousarray(g).reshape(np.shape(obj))


@numba_twin(transpose_back)
def _transpose_back(g, axes=None):
    if no_axis(axes):
        return lambda g, axes=None: np.transpose(g)
    return None


@numba_twin(reshape_as)
def _reshape_as(g, x, order="C"):
    if isinstance(order, types.UnicodeType) and not isinstance(order, types.StringLiteral):
        from numba import literally
        return lambda g, x, order="C": literally(order)    # retyped with its value
    if isinstance(order, types.StringLiteral) and order.literal_value != "C":
        return None                      # Fortran order: not laid out here (never silently C)
    if is_scalar(x):
        if is_scalar(g):
            return lambda g, x, order="C": g
        return lambda g, x, order="C": g.ravel()[0]
    return lambda g, x, order="C": np.ascontiguousarray(g).reshape(x.shape)



@numba_twin(reduced_count)
def _reduced_count(a, axis=None):
    if no_axis(axis):
        if isinstance(a, types.Array):
            return lambda a, axis=None: a.size
        return lambda a, axis=None: 1
    return None


@numba_twin(centered)
def _centered(a, axis=None):
    if is_scalar(a):
        return lambda a, axis=None: a - a
    if no_axis(axis):
        return lambda a, axis=None: a - np.mean(a)
    return None


@numba_twin(extremum_mask)
def _extremum_mask(a, ans, axis=None, keepdims=False):
    if is_scalar(a):
        return lambda a, ans, axis=None, keepdims=False: 1.0
    if no_axis(axis):
        def impl(a, ans, axis=None, keepdims=False):
            hit = (a == ans).astype(a.dtype)
            return hit / np.sum(hit)
        return impl
    return None


def _clip_weights(a, a_min, a_max, test):
    """0/1 weights ``test(entry, a_min, a_max)`` for an array or scalar ``a`` and scalar
    (or None) bounds; array bounds are left to a compile error."""
    if not all(no_axis(b) or is_scalar(b) for b in (a_min, a_max)):
        return None
    test = numba.njit(inline="always")(test)
    if is_scalar(a):
        return lambda a, a_min, a_max: 1.0 if test(a, a_min, a_max) else 0.0
    if not isinstance(a, types.Array):
        return None
    dtype = np.float32 if a.dtype == types.float32 else np.float64

    def impl(a, a_min, a_max):
        src = np.ravel(a)
        out = np.empty(src.size, dtype)
        for k in range(src.size):
            out[k] = 1.0 if test(src[k], a_min, a_max) else 0.0
        return out.reshape(a.shape)
    return impl


def _bound(bound, test):
    """``test(x, bound)``, or always True for an absent (None) bound."""
    return numba.njit(inline="always")((lambda x, b: True) if no_axis(bound) else test)


@numba_twin(clip_inside)
def _clip_inside(a, a_min, a_max):
    ge, le = _bound(a_min, lambda x, b: x >= b), _bound(a_max, lambda x, b: x <= b)
    return _clip_weights(a, a_min, a_max, lambda x, lo, hi: ge(x, lo) and le(x, hi))


@numba_twin(clip_below)
def _clip_below(a, a_min, a_max):
    if no_axis(a_min):
        return lambda a, a_min, a_max: 0.0
    ordered = _bound(a_max, lambda lo, hi: lo <= hi)
    return _clip_weights(a, a_min, a_max, lambda x, lo, hi: x < lo and ordered(lo, hi))


@numba_twin(clip_above)
def _clip_above(a, a_min, a_max):
    if no_axis(a_max):
        return lambda a, a_min, a_max: 0.0
    low = numba.njit(inline="always")(
        (lambda x, lo: x) if no_axis(a_min) else (lambda x, lo: max(x, lo)))
    return _clip_weights(a, a_min, a_max, lambda x, lo, hi: low(x, lo) > hi)


def _exclusive_products(flat, slope):
    """For each entry: the product of the other entries and its derivative along ``slope``
    (dual numbers, no division: exact at zeros)."""
    n = flat.size
    value = np.empty(n, flat.dtype)
    deriv = np.empty(n, flat.dtype)
    v, d = 1.0, 0.0
    for j in range(n):
        value[j], deriv[j] = v, d
        v, d = v * flat[j], d * flat[j] + v * slope[j]
    v, d = 1.0, 0.0
    for j in range(n - 1, -1, -1):
        value[j], deriv[j] = value[j] * v, value[j] * d + deriv[j] * v
        v, d = v * flat[j], d * flat[j] + v * slope[j]
    return value, deriv


@numba_twin(prod_others)
def _prod_others(a, axis=None):
    if is_scalar(a):
        return lambda a, axis=None: 1.0
    if not (isinstance(a, types.Array) and no_axis(axis)):
        return None

    kernel = njit(_exclusive_products)

    def impl(a, axis=None):
        flat = np.ravel(a)
        return kernel(flat, np.zeros_like(flat))[0].reshape(a.shape)
    return impl


@numba_twin(prod_others_jvp)
def _prod_others_jvp(t, a, axis=None):
    if is_scalar(a):
        return lambda t, a, axis=None: t * 0.0
    if not (isinstance(a, types.Array) and isinstance(t, types.Array) and no_axis(axis)):
        return None

    kernel = njit(_exclusive_products)

    def impl(t, a, axis=None):
        return kernel(np.ravel(a), np.ravel(t))[1].reshape(a.shape)
    return impl


@numba_twin(norm_direction)
def _norm_direction(x, ans, ord=None, axis=None, keepdims=False):
    if not (isinstance(x, types.Array) and no_axis(ord) and no_axis(axis)):
        return None                      # other orders and axes: a compile error
    return lambda x, ans, ord=None, axis=None, keepdims=False: x / ans


@numba_twin(two_norm_weight)
def _two_norm_weight(x, ord=None, axis=None):
    if not no_axis(ord):
        return None
    return lambda x, ord=None, axis=None: 1.0


@numba_twin(winner_share)
def _winner_share(x, y, ans):
    if is_scalar(x) and is_scalar(y):
        def impl(x, y, ans):
            if x == ans:
                return 0.5 if x == y else 1.0
            return 0.0
        return impl

    def impl(x, y, ans):
        return np.where(x == ans, np.where(x == y, 0.5, 1.0), 0.0)
    return impl


@numba_twin(log_or_zero)
def _log_or_zero(x):
    if is_scalar(x):
        return lambda x: np.log(x) if x != 0 else 0.0 * x
    if isinstance(x, types.Array):
        return lambda x: np.log(np.where(x == 0, 1.0, x))
    return None


@numba_twin(inverse_or_zero)
def _inverse_or_zero(x):
    if is_scalar(x):
        return lambda x: 1.0 / x if x != 0 else 0.0 * x
    if isinstance(x, types.Array):
        return lambda x: np.where(x == 0, 0.0, 1.0) / np.where(x == 0, 1.0, x)
    return None


@numba_twin(diag_grad)
def _diag_grad(g, v, k=0):
    if not (isinstance(g, types.Array) and isinstance(v, types.Array) and v.ndim in (1, 2)):
        return None
    if v.ndim == 1:                      # np.diag built a matrix: read its k-th diagonal
        def diagonal(g, v, k=0):
            out = np.empty(v.shape[0], g.dtype)
            for i in range(v.shape[0]):
                out[i] = g[i + max(-k, 0), i + max(k, 0)]
            return out
        return diagonal

    def placed(g, v, k=0):               # np.diag read a diagonal: put g back on it
        out = np.zeros(v.shape, g.dtype)
        for i in range(g.shape[0]):
            out[i + max(-k, 0), i + max(k, 0)] = g[i]
        return out
    return placed


@numba_twin(trace_grad)
def _trace_grad(g, a, offset=0, axis1=0, axis2=1):
    if not (is_scalar(g) and isinstance(a, types.Array) and a.ndim == 2):
        return None                      # the trace of a matrix only

    def impl(g, a, offset=0, axis1=0, axis2=1):
        out = np.zeros(a.shape)
        swapped = axis1 % 2 == 1         # trace(a, offset, 1, 0) runs over a.T
        rows, cols = (a.shape[1], a.shape[0]) if swapped else (a.shape[0], a.shape[1])
        for i in range(rows):
            j = i + offset
            if 0 <= j < cols:
                if swapped:
                    out[j, i] = g
                else:
                    out[i, j] = g
        return out
    return impl



# ----------------------------------------------------------------------- products
@numba_twin(dot_grad_a)
def _dot_grad_a(g, a, b):
    if is_scalar(a) or is_scalar(b):
        return lambda g, a, b: unbroadcast(g * b, a)
    if a.ndim == 1 and b.ndim == 1:
        return lambda g, a, b: g * b
    if a.ndim == 2 and b.ndim == 1:
        return lambda g, a, b: np.outer(g, b)
    if a.ndim == 2 and b.ndim == 2:
        return lambda g, a, b: g @ b.T
    if a.ndim == 1 and b.ndim == 2:
        return lambda g, a, b: b @ g
    return None


@numba_twin(dot_grad_b)
def _dot_grad_b(g, a, b):
    if is_scalar(a) or is_scalar(b):
        return lambda g, a, b: unbroadcast(g * a, b)
    if a.ndim == 1 and b.ndim == 1:
        return lambda g, a, b: g * a
    if a.ndim == 2 and b.ndim == 1:
        return lambda g, a, b: a.T @ g
    if a.ndim == 2 and b.ndim == 2:
        return lambda g, a, b: a.T @ g
    if a.ndim == 1 and b.ndim == 2:
        return lambda g, a, b: np.outer(a, g)
    return None


@numba_twin(matmul_grad_a)
def _matmul_grad_a(g, a, b):
    return _dot_grad_a(g, a, b)


@numba_twin(matmul_grad_b)
def _matmul_grad_b(g, a, b):
    return _dot_grad_b(g, a, b)




# ----------------------------------------------------------------------- linalg
@numba_twin(mT)
def _mT(x):
    if not isinstance(x, types.Array) or x.ndim < 2:
        return None
    if x.ndim == 2:
        return lambda x: x.T
    return lambda x: np.swapaxes(x, -1, -2)


@numba_twin(as_scalar)
def _as_scalar(v):
    if isinstance(v, types.Array) and v.ndim == 0:
        return lambda v: v[()]
    return lambda v: v


@numba_twin(inverse_axes)
def _inverse_axes(axes, ndim):
    if no_axis(axes):
        return lambda axes, ndim: None
    if not isinstance(axes, types.UniTuple):
        return None
    from numba.np.unsafe.ndarray import to_fixed_tuple
    n = axes.count

    def impl(axes, ndim):
        out = np.empty(n, np.int64)
        for k in range(n):
            out[axes[k] % ndim] = k
        return to_fixed_tuple(out, n)
    return impl


@numba_twin(inner_grad_a)
def _inner_grad_a(g, a, b):
    if is_scalar(a) or is_scalar(b):
        return lambda g, a, b: unbroadcast(g * b, a)
    if a.ndim == 1 and b.ndim == 1:
        return lambda g, a, b: g * b
    if a.ndim == 2 and b.ndim == 1:          # ans = a @ b
        return lambda g, a, b: np.outer(g, b)
    if a.ndim == 2 and b.ndim == 2:          # ans = a @ b.T
        return lambda g, a, b: g @ b
    if a.ndim == 1 and b.ndim == 2:          # ans = b @ a
        return lambda g, a, b: g @ b
    return None


@numba_twin(inner_grad_b)
def _inner_grad_b(g, a, b):
    if is_scalar(a) or is_scalar(b):
        return lambda g, a, b: unbroadcast(g * a, b)
    if a.ndim == 1 and b.ndim == 1:
        return lambda g, a, b: g * a
    if a.ndim == 2 and b.ndim == 1:
        return lambda g, a, b: a.T @ g
    if a.ndim == 2 and b.ndim == 2:
        return lambda g, a, b: g.T @ a
    if a.ndim == 1 and b.ndim == 2:
        return lambda g, a, b: np.outer(g, a)
    return None


def _one_matrix(a, b):
    """Whether ``solve(a, b)`` is one system (a matrix ``a``): Numba's solve has no stacks."""
    return isinstance(a, types.Array) and a.ndim == 2 and isinstance(b, types.Array) \
        and b.ndim in (1, 2)


@numba_twin(solve_adjoint)
def _solve_adjoint(a, g, b):
    if not _one_matrix(a, b):
        return None
    return lambda a, g, b: np.linalg.solve(np.ascontiguousarray(a.T), g)


@numba_twin(solve_outer)
def _solve_outer(y, x, a, b):
    if not _one_matrix(a, b):
        return None
    if b.ndim == 1:
        return lambda y, x, a, b: -np.outer(y, x)
    return lambda y, x, a, b: -(np.ascontiguousarray(y) @ np.ascontiguousarray(x.T))


@numba_twin(col_matmul)
def _col_matmul(m, x, b):
    if not _one_matrix(m, b):
        return None
    return lambda m, x, b: np.ascontiguousarray(m) @ np.ascontiguousarray(x)


def _vector_norm_direction(x, ans, p):
    """``norm_direction`` of a vector for a numeric order (compiled by its twin)."""
    if p == 2:
        return x / ans
    if p == 1:
        return np.sign(x)
    if p == 0:
        return np.zeros_like(x)
    if np.isinf(p):
        hit = (np.abs(x) == ans).astype(x.dtype)
        return np.sign(x) * hit / np.sum(hit)
    return np.sign(x) * (np.abs(x) / ans) ** (p - 1)


def _matrix_norm_direction_kernel(m, ans, p):
    """``norm_direction`` of a matrix for a numeric order (compiled by its twin)."""
    if p == 2 or p == -2:
        u, s, vh = np.linalg.svd(m, full_matrices=False)
        k = 0 if p == 2 else s.shape[0] - 1
        return np.outer(u[:, k], vh[k, :])
    if p == 1 or p == -1:
        sums = np.sum(np.abs(m), axis=0)
        hit = (sums == ans).astype(m.dtype)
        return np.sign(m) * (hit / np.sum(hit))
    if np.isinf(p):
        sums = np.sum(np.abs(m), axis=1)
        hit = (sums == ans).astype(m.dtype)
        return np.sign(m) * (hit / np.sum(hit)).reshape((m.shape[0], 1))
    raise ValueError("invalid norm order for matrices")


@numba_twin(norm_direction)
def _norm_direction_numeric(x, ans, ord=None, axis=None, keepdims=False):
    """Numeric orders of a whole vector or matrix (``axis=None``)."""
    if not (isinstance(x, types.Array) and x.ndim in (1, 2) and no_axis(axis)
            and isinstance(ord, (types.Integer, types.Float))):
        return None
    kernel = njit(_vector_norm_direction if x.ndim == 1 else _matrix_norm_direction_kernel)
    return lambda x, ans, ord=None, axis=None, keepdims=False: kernel(np.ascontiguousarray(x), ans, ord)
