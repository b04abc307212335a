"""The Numba backend: compile the generated adjoint with ``numba.njit``, text unchanged.

The generated code calls small runtime helpers (``unbroadcast``, ``zeros_like``, typed
stack constructors...).  Here each gets a Numba implementation through
``numba.extending.overload`` on the very same Python function, so the namespace and the
source stay identical between plain Python and jit mode; Numba picks the implementation
by argument types at compile time, and scalars pay nothing.
"""

from __future__ import annotations

import dataclasses
import inspect
import linecache
import re

import numba
import numpy as np
from numba import types
from numba.core.errors import NumbaError
from numba.extending import overload

from srcgrad import custom
from srcgrad.errors import SrcgradError
from srcgrad.runtime import broadcast, lists, numpy_helpers, tape

_SCALARS = (types.Number, types.Boolean)


def _is_scalar(t) -> bool:
    return isinstance(t, _SCALARS)


# ----------------------------------------------------------------------- tape
def _register_stack(suffix: str):
    """``stack_<suffix>()``: an empty list, typed by an item it never holds (``f64_2d``
    holds 2-d float64 arrays, ``list_f64_2d`` lists of them)."""
    ctor = getattr(tape, f"stack_{suffix}")
    nested = suffix.startswith("list_")
    parts = suffix[len("list_"):].split("_") if nested else suffix.split("_")
    dtype = {"f64": np.float64, "f32": np.float32, "i64": np.int64, "bool": np.bool_}[parts[0]]
    zero = dtype(0)
    shape = (0,) * int(parts[1][0]) if len(parts) > 1 else None
    if shape is None:
        impl = (lambda: [[zero] for _ in range(0)]) if nested else (lambda: [zero for _ in range(0)])
    elif nested:
        impl = lambda: [[np.empty(shape, dtype)] for _ in range(0)]       # noqa: E731
    else:
        impl = lambda: [np.empty(shape, dtype) for _ in range(0)]         # noqa: E731
    overload(ctor, inline="always")(lambda: impl)


for _suffix in tape.TAPE_TYPES:
    _register_stack(_suffix)


def _register_history(ctor, dtype):
    @overload(ctor, inline="always")
    def _history(n):
        def impl(n):
            return np.empty(max(n, 0), dtype)
        return impl


for _ctor, _dtype in ((tape.hist_f64, np.float64), (tape.hist_f32, np.float32),
                      (tape.hist_i64, np.int64), (tape.hist_bool, np.bool_)):
    _register_history(_ctor, _dtype)


@overload(tape.reversed_range, inline="always")
def _reversed_range(start, stop, step):
    def impl(start, stop, step):
        n = len(range(start, stop, step))
        if n == 0:
            return 0, 0, 1
        return start + (n - 1) * step, start - step, -step
    return impl


@overload(custom.stop_gradient, inline="always")
def _stop_gradient(x):
    return lambda x: x                   # the value itself; lowering made it inactive


@overload(tape.copy_value)
def _copy_value(value):
    if isinstance(value, types.Array):
        return lambda value: value.copy()
    return lambda value: value


@overload(tape.add_at)
def _add_at(target, index, value):
    """Integer arrays (repeats accumulate) and boolean masks; other indexes (tuples with
    slices, n-d integer arrays) are left to a compile error, never indexed wrongly."""
    if not (isinstance(index, types.Array) and isinstance(target, types.Array)):
        return None
    if isinstance(index.dtype, types.Boolean):
        return _add_at_mask(target, index, value)
    if not isinstance(index.dtype, types.Integer) or index.ndim != 1:
        return None
    if isinstance(value, types.Array):
        def impl(target, index, value):
            for k in range(len(index)):
                target[index[k]] += value[k]
            return target
    else:
        def impl(target, index, value):
            for k in range(len(index)):
                target[index[k]] += value
            return target
    return impl


def _add_at_mask(target, index, value):
    """``target[mask] += value``: the selected entries in order (rows for a 1-d mask)."""
    if index.ndim != 1 and index.ndim != target.ndim:
        return None
    if isinstance(value, types.Array):
        def pick(value, j):
            return value[j]
    else:
        def pick(value, j):
            return value
    pick = numba.njit(inline="always")(pick)

    if index.ndim == 1:
        def rows(target, index, value):
            j = 0
            for k in range(index.shape[0]):
                if index[k]:
                    target[k] += pick(value, j)
                    j += 1
            return target
        return rows

    def entries(target, index, value):
        flat = target.reshape(target.size)
        mask = np.ravel(index)
        j = 0
        for k in range(mask.shape[0]):
            if mask[k]:
                flat[k] += pick(value, j)
                j += 1
        return target
    return entries


# ----------------------------------------------------------------------- run-time lists
def _literal_axis(axis, ndim):
    """The axis as a non-negative int known at compile time, or None (try the literal)."""
    if isinstance(axis, int):                        # the default, when omitted
        value = axis
    elif isinstance(axis, types.Omitted):
        value = axis.value
    elif isinstance(axis, types.IntegerLiteral):
        value = axis.literal_value
    else:
        return None
    return value + ndim if value < 0 else value


def _to_front(axis, ndim):
    """The permutation moving ``axis`` to the front (its own inverse is not needed:
    ``_from_front`` undoes it)."""
    return (axis,) + tuple(k for k in range(ndim) if k != axis)


def _from_front(axis, ndim):
    return tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, ndim))


@overload(numpy_helpers.unstack)
def _unstack(g, arrays, axis=0):
    if not isinstance(g, types.Array):
        return None
    k = _literal_axis(axis, g.ndim)
    if k is None:
        return None
    front = _to_front(k, g.ndim)
    if g.ndim == 1:                                     # the pieces were numbers
        return lambda g, arrays, axis=0: [g[j] for j in range(len(arrays))]

    def impl(g, arrays, axis=0):
        parts = g.transpose(front)
        return [np.ascontiguousarray(parts[j]) for j in range(len(arrays))]
    return impl


@numba.njit(cache=False)
def _cut(g, widths, front, back):
    """The pieces of ``g`` along an axis (moved to the front by ``front``, back by
    ``back``), ``widths[j]`` wide: the cotangents of concatenated arrays."""
    parts = g.transpose(front)
    out = [np.ascontiguousarray(parts[0:0].transpose(back)) for _ in range(0)]
    start = 0
    for width in widths:
        out.append(np.ascontiguousarray(parts[start:start + width].transpose(back)))
        start += width
    return out


def _widths_impl(arrays, k):
    """An implementation of ``widths(arrays)``: each piece's extent along axis ``k``."""
    if isinstance(arrays, types.BaseTuple):             # pieces may differ in layout
        def widths(arrays):
            out = np.empty(len(arrays), np.int64)
            j = 0
            for a in numba.literal_unroll(arrays):
                out[j] = a.shape[k]
                j += 1
            return out
        return numba.njit(widths)
    return numba.njit(lambda arrays: np.array([a.shape[k] for a in arrays], np.int64))


@overload(numpy_helpers.unconcatenate)
def _unconcatenate(g, arrays, axis=0):
    if not isinstance(g, types.Array):
        return None
    k = _literal_axis(axis, g.ndim)
    if k is None:
        return None
    front, back = _to_front(k, g.ndim), _from_front(k, g.ndim)
    widths = _widths_impl(arrays, k)
    return lambda g, arrays, axis=0: _cut(g, widths(arrays), front, back)


@overload(lists.stack_items)
def _stack_items(items, axis=0):
    item = items.dtype
    ndim = item.ndim + 1 if isinstance(item, types.Array) else 1
    k = _literal_axis(axis, ndim)
    if k is None:
        return None
    if _is_scalar(item):
        dtype = numba.np.numpy_support.as_dtype(item)

        def scalars(items, axis=0):
            out = np.empty(len(items), dtype)
            for j in range(len(items)):
                out[j] = items[j]
            return out
        return scalars
    back = _from_front(k, ndim)

    def arrays(items, axis=0):
        first = items[0]
        out = np.empty((len(items),) + first.shape, first.dtype)
        for j in range(len(items)):
            out[j] = items[j]
        if k == 0:
            return out
        return np.ascontiguousarray(out.transpose(back))
    return arrays


@overload(lists.concatenate_items)
def _concatenate_items(items, axis=0):
    item = items.dtype
    if not isinstance(item, types.Array):
        return None
    k = _literal_axis(axis, item.ndim)
    if k is None:
        return None
    front, back = _to_front(k, item.ndim), _from_front(k, item.ndim)

    def impl(items, axis=0):
        n = 0
        for j in range(len(items)):
            n += items[j].shape[k]
        first = items[0].transpose(front)
        out = np.empty((n,) + first.shape[1:], first.dtype)
        start = 0
        for j in range(len(items)):
            piece = items[j].transpose(front)
            out[start:start + piece.shape[0]] = piece
            start += piece.shape[0]
        return np.ascontiguousarray(out.transpose(back))
    return impl


@overload(lists.sum_items)
def _sum_items(items):
    if _is_scalar(items.dtype):
        def scalars(items):
            out = 0.0
            for j in range(len(items)):
                out = out + items[j]
            return out
        return scalars

    def arrays(items):
        out = items[0].copy()           # needs one item (Python's sum would give 0)
        for j in range(1, len(items)):
            out = out + items[j]
        return out
    return arrays


@overload(lists.add_item)
def _add_item(adjoint, index, g):
    def impl(adjoint, index, g):
        adjoint[index] = adjoint[index] + g
        return adjoint
    return impl


@overload(lists.add_each)
def _add_each(adjoint, g):
    def impl(adjoint, g):
        for j in range(len(adjoint)):
            adjoint[j] = adjoint[j] + g
        return adjoint
    return impl


@overload(lists.add_stacked)
def _add_stacked(adjoint, g, axis=0):
    ndim = g.ndim if isinstance(g, types.Array) else 0
    k = _literal_axis(axis, ndim)
    if k is None:
        return None
    front = _to_front(k, ndim)

    def impl(adjoint, g, axis=0):
        parts = g.transpose(front) if k != 0 else g
        for j in range(len(adjoint)):
            adjoint[j] = adjoint[j] + parts[j]
        return adjoint
    return impl


@overload(lists.add_concatenated)
def _add_concatenated(adjoint, items, g, axis=0):
    if not isinstance(g, types.Array):
        return None
    k = _literal_axis(axis, g.ndim)
    if k is None:
        return None
    front, back = _to_front(k, g.ndim), _from_front(k, g.ndim)
    widths = _widths_impl(items, k)

    def impl(adjoint, items, g, axis=0):
        pieces = _cut(g, widths(items), front, back)
        for j in range(len(adjoint)):
            adjoint[j] = adjoint[j] + pieces[j]
        return adjoint
    return impl


# ----------------------------------------------------------------------- broadcasting
@overload(numpy_helpers.zeros_like)
@overload(broadcast.zeros_like)
def _zeros_like(x):
    if isinstance(x, types.Array):
        return lambda x: np.zeros_like(x)
    if isinstance(x, types.List):       # the adjoint or tangent of a stack
        item = x.dtype
        if isinstance(item, types.Array):
            return lambda x: [np.zeros_like(v) for v in x]
        zero = np.float32(0.0) if isinstance(item, types.Float) and item.bitwidth == 32 else 0.0
        return lambda x: [zero for _ in x]
    if isinstance(x, types.UniTuple) and isinstance(x.dtype, types.Array):
        return lambda x: [np.zeros_like(v) for v in x]
    if isinstance(x, types.UniTuple) and _is_scalar(x.dtype):
        return lambda x: [0.0 for _ in x]
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: np.float32(0.0)
    if isinstance(x, types.BaseTuple):
        return None                      # never a scalar zero for a container
    return lambda x: 0.0


@overload(broadcast.unbroadcast)
def _unbroadcast(g, x):
    if _is_scalar(x):
        if _is_scalar(g):
            return lambda g, x: g
        return lambda g, x: np.sum(g)
    if not isinstance(x, types.Array):
        return None
    if _is_scalar(g):
        return lambda g, x: np.full(x.shape, g)
    if g.ndim == x.ndim == 1:
        def impl(g, x):
            if g.shape[0] == x.shape[0]:
                return g
            return np.full(x.shape, np.sum(g))
        return impl
    if g.ndim == 2 and x.ndim == 1:
        def impl(g, x):
            s = np.sum(g, axis=0)
            if s.shape[0] == x.shape[0]:
                return s
            return np.full(x.shape, np.sum(s))
        return impl
    if g.ndim == x.ndim == 2:
        def impl(g, x):
            out = g
            if x.shape[0] == 1 and g.shape[0] != 1:
                out = np.sum(out, axis=0).reshape((1, out.shape[1]))
            if x.shape[1] == 1 and g.shape[1] != 1:
                out = np.sum(out, axis=1).reshape((out.shape[0], 1))
            return out
        return impl
    if isinstance(g, types.Array) and g.ndim >= x.ndim:
        return lambda g, x: _unbroadcast_any(g, x)
    return None


@numba.njit(cache=False)
def _unbroadcast_any(g, x):
    """``g`` summed onto ``x``'s shape for any ranks: each entry of ``g`` is added to the
    entry of ``x`` that broadcasting copied there (leading axes and length-1 axes of ``x``
    are summed over)."""
    lead = g.ndim - x.ndim
    flat = np.ravel(g)
    out = np.zeros(x.size, flat.dtype)
    for k in range(flat.size):
        rest = k
        pos = 0
        stride = 1
        for d in range(g.ndim - 1, -1, -1):
            i = rest % g.shape[d]
            rest //= g.shape[d]
            if d >= lead:
                n = x.shape[d - lead]
                if n != 1:
                    pos += i * stride
                stride *= n
        out[pos] += flat[k]
    return out.reshape(x.shape)


@overload(broadcast.broadcast_like)
def _broadcast_like(t, ans):
    if _is_scalar(ans):
        return lambda t, ans: t
    if isinstance(t, types.Array) and t.ndim == ans.ndim:
        def impl(t, ans):
            if t.shape == ans.shape:
                return t
            out = np.empty_like(ans)
            out[...] = t
            return out
        return impl

    def spread(t, ans):
        out = np.empty_like(ans)
        out[...] = t
        return out
    return spread


@overload(numpy_helpers.unreduce)
def _unreduce(g, a, axis=None, keepdims=False):
    if _is_scalar(a):
        return lambda g, a, axis=None, keepdims=False: g
    if isinstance(axis, (types.NoneType, types.Omitted)) or axis is None:
        def impl(g, a, axis=None, keepdims=False):
            return np.full(a.shape, g)
        return impl
    return None


@overload(numpy_helpers.unreduce)
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


@overload(numpy_helpers.reverse_cumsum)
def _reverse_cumsum(g, axis=None):
    """Sums from each entry to the end: of the flattened ``g`` (``axis=None``, as cumsum
    flattens), or along the only axis of a 1-d ``g``."""
    one_axis = isinstance(g, types.Array) and g.ndim == 1 and _literal_axis(axis, 1) == 0
    if not isinstance(g, types.Array) or not (_no_axis(axis) or one_axis):
        return None

    def impl(g, axis=None):
        out = np.ravel(g).copy()
        for k in range(out.shape[0] - 2, -1, -1):
            out[k] += out[k + 1]
        return out
    return impl


@numba.njit(cache=False)
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


@overload(numpy_helpers.unreduce)
def _unreduce_any_axis(g, a, axis=None, keepdims=False):
    """A reduction over one axis of an array of any rank but 2 (2 has its own version)."""
    if not (isinstance(a, types.Array) and a.ndim != 2 and isinstance(axis, types.Integer)):
        return None

    def impl(g, a, axis=None, keepdims=False):
        return _unreduce_one_axis(g, a, axis % a.ndim)
    return impl


@overload(numpy_helpers.unarray)
def _unarray(g, obj):
    if isinstance(obj, (types.List, types.UniTuple)):
        return lambda g, obj: g          # g[k] is item k's cotangent, as the tuple would be
    return lambda g, obj: np.ascontiguousarray(g).reshape(np.shape(obj))


@overload(numpy_helpers.transpose_back)
def _transpose_back(g, axes=None):
    if _no_axis(axes):
        return lambda g, axes=None: np.transpose(g)
    return None


@overload(numpy_helpers.reshape_as)
def _reshape_as(g, x, order="C"):
    if isinstance(order, types.UnicodeType) and not isinstance(order, types.StringLiteral):
        return lambda g, x, order="C": numba.literally(order)    # retyped with its value
    if isinstance(order, types.StringLiteral) and order.literal_value != "C":
        return None                      # Fortran order: not laid out here (never silently C)
    if _is_scalar(x):
        if _is_scalar(g):
            return lambda g, x, order="C": g
        return lambda g, x, order="C": g.ravel()[0]
    return lambda g, x, order="C": np.ascontiguousarray(g).reshape(x.shape)


@overload(np.array)
def _np_array_of_array(object, dtype=None):
    """``np.array(a)`` of an array is a copy (the documented way to own an array); Numba
    itself only builds arrays from numbers, lists and tuples."""
    if isinstance(object, types.Array) and _no_axis(dtype):
        return lambda object, dtype=None: object.copy()
    return None


@overload(np.ndim)
def _np_ndim(x):
    ndim = x.ndim if isinstance(x, types.Array) else 0
    return lambda x: ndim


@overload(np.size)
def _np_size(x):
    if isinstance(x, types.Array):
        return lambda x: x.size
    return lambda x: 1


def _no_axis(axis) -> bool:
    return axis is None or isinstance(axis, (types.NoneType, types.Omitted))


@overload(numpy_helpers.reduced_count)
def _reduced_count(a, axis=None):
    if _no_axis(axis):
        if isinstance(a, types.Array):
            return lambda a, axis=None: a.size
        return lambda a, axis=None: 1
    return None


@overload(numpy_helpers.centered)
def _centered(a, axis=None):
    if _is_scalar(a):
        return lambda a, axis=None: a - a
    if _no_axis(axis):
        return lambda a, axis=None: a - np.mean(a)
    return None


@overload(numpy_helpers.extremum_mask)
def _extremum_mask(a, ans, axis=None, keepdims=False):
    if _is_scalar(a):
        return lambda a, ans, axis=None, keepdims=False: 1.0
    if _no_axis(axis):
        def impl(a, ans, axis=None, keepdims=False):
            hit = (a == ans).astype(a.dtype)
            return hit / np.sum(hit)
        return impl
    return None


def _clip_weights(a, a_min, a_max, test):
    """0/1 weights ``test(entry, a_min, a_max)`` for an array or scalar ``a`` and scalar
    (or None) bounds; array bounds are left to a compile error."""
    if not all(_no_axis(b) or _is_scalar(b) for b in (a_min, a_max)):
        return None
    test = numba.njit(inline="always")(test)
    if _is_scalar(a):
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
    return numba.njit(inline="always")((lambda x, b: True) if _no_axis(bound) else test)


@overload(numpy_helpers.clip_inside)
def _clip_inside(a, a_min, a_max):
    ge, le = _bound(a_min, lambda x, b: x >= b), _bound(a_max, lambda x, b: x <= b)
    return _clip_weights(a, a_min, a_max, lambda x, lo, hi: ge(x, lo) and le(x, hi))


@overload(numpy_helpers.clip_below)
def _clip_below(a, a_min, a_max):
    if _no_axis(a_min):
        return lambda a, a_min, a_max: 0.0
    ordered = _bound(a_max, lambda lo, hi: lo <= hi)
    return _clip_weights(a, a_min, a_max, lambda x, lo, hi: x < lo and ordered(lo, hi))


@overload(numpy_helpers.clip_above)
def _clip_above(a, a_min, a_max):
    if _no_axis(a_max):
        return lambda a, a_min, a_max: 0.0
    low = numba.njit(inline="always")(
        (lambda x, lo: x) if _no_axis(a_min) else (lambda x, lo: max(x, lo)))
    return _clip_weights(a, a_min, a_max, lambda x, lo, hi: low(x, lo) > hi)


@numba.njit(cache=False)
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


@overload(numpy_helpers.prod_others)
def _prod_others(a, axis=None):
    if _is_scalar(a):
        return lambda a, axis=None: 1.0
    if not (isinstance(a, types.Array) and _no_axis(axis)):
        return None

    def impl(a, axis=None):
        flat = np.ravel(a)
        return _exclusive_products(flat, np.zeros_like(flat))[0].reshape(a.shape)
    return impl


@overload(numpy_helpers.prod_others_jvp)
def _prod_others_jvp(t, a, axis=None):
    if _is_scalar(a):
        return lambda t, a, axis=None: t * 0.0
    if not (isinstance(a, types.Array) and isinstance(t, types.Array) and _no_axis(axis)):
        return None

    def impl(t, a, axis=None):
        return _exclusive_products(np.ravel(a), np.ravel(t))[1].reshape(a.shape)
    return impl


@overload(numpy_helpers.norm_direction)
def _norm_direction(x, ans, ord=None, axis=None, keepdims=False):
    if not (isinstance(x, types.Array) and _no_axis(ord) and _no_axis(axis)):
        return None                      # other orders and axes: a compile error
    return lambda x, ans, ord=None, axis=None, keepdims=False: x / ans


@overload(numpy_helpers.two_norm_weight)
def _two_norm_weight(x, ord=None, axis=None):
    if not _no_axis(ord):
        return None
    return lambda x, ord=None, axis=None: 1.0


@overload(numpy_helpers.winner_share)
def _winner_share(x, y, ans):
    if _is_scalar(x) and _is_scalar(y):
        def impl(x, y, ans):
            if x == ans:
                return 0.5 if x == y else 1.0
            return 0.0
        return impl

    def impl(x, y, ans):
        return np.where(x == ans, np.where(x == y, 0.5, 1.0), 0.0)
    return impl


@overload(numpy_helpers.log_or_zero)
def _log_or_zero(x):
    if _is_scalar(x):
        return lambda x: np.log(x) if x != 0 else 0.0 * x
    if isinstance(x, types.Array):
        return lambda x: np.log(np.where(x == 0, 1.0, x))
    return None


@overload(numpy_helpers.inverse_or_zero)
def _inverse_or_zero(x):
    if _is_scalar(x):
        return lambda x: 1.0 / x if x != 0 else 0.0 * x
    if isinstance(x, types.Array):
        return lambda x: np.where(x == 0, 0.0, 1.0) / np.where(x == 0, 1.0, x)
    return None


@overload(numpy_helpers.diag_grad)
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


@overload(numpy_helpers.trace_grad)
def _trace_grad(g, a, offset=0, axis1=0, axis2=1):
    if not (_is_scalar(g) and isinstance(a, types.Array) and a.ndim == 2):
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


@overload(np.trace)
def _np_trace_axes(a, offset=0, axis1=0, axis2=1):
    """``np.trace`` with its axes spelled out (the tangent rule passes them) for a matrix;
    Numba's own takes only ``offset``."""
    if not (isinstance(a, types.Array) and a.ndim == 2) or isinstance(axis1, types.Omitted):
        return None

    def impl(a, offset=0, axis1=0, axis2=1):
        m = a.T if axis1 % 2 == 1 else a
        total = np.zeros(1, a.dtype)[0]
        for i in range(m.shape[0]):
            j = i + offset
            if 0 <= j < m.shape[1]:
                total += m[i, j]
        return total
    return impl


# ----------------------------------------------------------------------- products
@overload(numpy_helpers.dot_grad_a)
def _dot_grad_a(g, a, b):
    if _is_scalar(a) or _is_scalar(b):
        return lambda g, a, b: broadcast.unbroadcast(g * b, a)
    if a.ndim == 1 and b.ndim == 1:
        return lambda g, a, b: g * b
    if a.ndim == 2 and b.ndim == 1:
        return lambda g, a, b: np.outer(g, b)
    if a.ndim == 2 and b.ndim == 2:
        return lambda g, a, b: g @ b.T
    if a.ndim == 1 and b.ndim == 2:
        return lambda g, a, b: b @ g
    return None


@overload(numpy_helpers.dot_grad_b)
def _dot_grad_b(g, a, b):
    if _is_scalar(a) or _is_scalar(b):
        return lambda g, a, b: broadcast.unbroadcast(g * a, b)
    if a.ndim == 1 and b.ndim == 1:
        return lambda g, a, b: g * a
    if a.ndim == 2 and b.ndim == 1:
        return lambda g, a, b: a.T @ g
    if a.ndim == 2 and b.ndim == 2:
        return lambda g, a, b: a.T @ g
    if a.ndim == 1 and b.ndim == 2:
        return lambda g, a, b: np.outer(a, g)
    return None


@overload(numpy_helpers.matmul_grad_a)
def _matmul_grad_a(g, a, b):
    return _dot_grad_a(g, a, b)


@overload(numpy_helpers.matmul_grad_b)
def _matmul_grad_b(g, a, b):
    return _dot_grad_b(g, a, b)


# ----------------------------------------------------------------------- compile
@dataclasses.dataclass
class _Jitted:
    """A compiled derivative: same fields as api.Compiled, ``function`` is the dispatcher."""

    ir: object
    source: str
    function: object
    params: list


def _refuse_python_objects(fn_ir):
    """srcgrad.Function keeps Python objects in ``ctx``: it cannot run in nopython mode."""
    from srcgrad import ir
    from srcgrad.calls import CalleePrimitive
    from srcgrad.custom import FunctionPrimitive
    for stmt in ir.walk(fn_ir.body):
        if isinstance(stmt, ir.Call) and isinstance(stmt.fn, CalleePrimitive):
            raise SrcgradError(
                f"the call of the Python function '{stmt.fn.__name__}' cannot be compiled with "
                f"jit=True yet (its adjoint is generated per call at run time); use jit=False, "
                f"or register an njit-compatible rule for it with srcgrad.defvjp",
                stmt.loc, "jit")
        if isinstance(stmt, ir.Call) and isinstance(stmt.fn, FunctionPrimitive):
            raise SrcgradError(
                f"{stmt.fn.cls.__name__} is a srcgrad.Function: its ctx holds Python objects, "
                f"which Numba's nopython mode cannot compile. Use jit=False, or register an "
                f"njit-compatible rule with srcgrad.defvjp", stmt.loc, "jit")


def jitted(compiled):
    """The njit-compiled version of a generated adjoint (cached on ``compiled``)."""
    cached = getattr(compiled, "_numba", None)
    if cached is None:
        _refuse_python_objects(compiled.ir)
        guarded = _Guarded(numba.njit(compiled.function), compiled.ir.name, compiled.ir.loc,
                           compiled.locations)
        cached = _Jitted(compiled.ir, compiled.source, guarded, compiled.params)
        compiled._numba = cached
    return cached


def jitted_cached(function, compiled, loc):
    """A derivative imported from the disk cache, compiled with Numba's own disk cache.

    Numba's cache files are checksummed (``cache.guard_numba_cache``); if Numba finds no
    place to keep them, the derivative is compiled in memory instead.
    """
    from srcgrad.backends import cache as disk
    source = compiled.source if compiled is not None else inspect.getsource(function)
    try:
        dispatcher = numba.njit(cache=True)(function)
        disk.guard_numba_cache(dispatcher)
    except Exception as exc:             # noqa: BLE001  no usable cache location
        disk._warn(f"Numba cannot cache {function.__name__} ({exc}); compiling in memory")
        dispatcher = numba.njit(function)
    guarded = _Guarded(dispatcher, function.__name__, loc)
    return _Jitted(getattr(compiled, "ir", None), source, guarded, None)


class _Guarded:
    """Calls the dispatcher, turning Numba's compile failures into a located SrcgradError."""

    def __init__(self, dispatcher, name, loc, locations=None):
        self.dispatcher = dispatcher
        self.name = name
        self.loc = loc
        self.locations = locations or {}

    def __call__(self, *args):
        try:
            return self.dispatcher(*args)
        except NumbaError as exc:
            reason, line = _numba_reason(str(exc))
            names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line or "")
            loc = next((self.locations[n] for n in names if n in self.locations), self.loc)
            raise SrcgradError(
                f"Numba could not compile the derivative of '{self.name}' in nopython mode: "
                f"{reason}. Use jit=False, or see srcgrad.show() for the generated code",
                loc, "jit") from exc
        except AssertionError as exc:        # an assertion of Numba's own type inference
            if not _raised_by_numba(exc):
                raise
            raise SrcgradError(
                f"Numba could not compile the derivative of '{self.name}' in nopython mode "
                f"(its type inference rejected a call's arguments). Use jit=False, or see "
                f"srcgrad.show() for the generated code", self.loc, "jit") from exc
        except NotImplementedError as exc:   # Numba's run-time "not supported here"
            raise SrcgradError(
                f"Numba does not support an operation in the derivative of '{self.name}' for "
                f"these arguments: {exc}. Use jit=False", self.loc, "jit") from exc


def _raised_by_numba(exc) -> bool:
    """Whether the exception was raised inside Numba's compiler (not by compiled code)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "numba" in tb.tb_frame.f_code.co_filename


def _numba_reason(message: str) -> tuple[str, str | None]:
    """The informative part of a Numba error and the generated line it points at."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", message)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    reason = next((ln for ln in lines[1:] if not ln.startswith(("During:", "File", "def ", "<source"))),
                  lines[0] if lines else "unknown error")
    where = [ln for ln in lines if ln.startswith('File "<srcgrad')]
    code = None
    if where:
        match = re.search(r'File "([^"]+)", line (\d+)', where[-1])
        if match:
            code = linecache.getline(match.group(1), int(match.group(2))).strip()
            reason += f" (generated line {match.group(2)}: {code})"
    return reason, code


from srcgrad.rules import casts as _casts  # noqa: E402

_casts.register_numba(overload)            # x.astype(...) in generated code
