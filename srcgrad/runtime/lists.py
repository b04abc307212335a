"""Reading lists whose length is known only at run time.

A list the user builds with ``append`` in a loop (or a comprehension over a run-time
``range``) stays a Python list in generated code.  Lowering turns every read of the whole
list or of one item into one of these primitives, so each has a derivative rule:
``stack_items`` is ``np.stack`` (and ``np.array``) of the items, ``concatenate_items`` is
``np.concatenate``, ``sum_items`` is ``sum`` and ``item`` is ``items[index]``.

Their adjoints update the adjoint list (one cotangent per item, the same length as the
list) in place and return it: ``add_*`` below.  Accumulating into the existing adjoint
keeps a loop that reads ``xs[i]`` linear in the list's length.

Their Numba twins (``runtime/twins.py``) follow them, for reflected lists (an ``axis``
must be a constant there).
"""

from __future__ import annotations

import numpy as np

from srcgrad.runtime.twins import (from_front, is_scalar, literal_axis, numba, numba_twin,
                                    to_front, types, widths_impl)
from srcgrad.runtime.twins import cut, njit


def item(items, index):
    """``items[index]``."""
    return items[index]


def stack_items(items, axis=0):
    """``np.stack(items, axis)``: numbers become a 1-d array, arrays gain an axis."""
    return np.stack(items, axis)


def concatenate_items(items, axis=0):
    """``np.concatenate(items, axis)``."""
    return np.concatenate(items, axis)


def sum_items(items):
    """``sum(items)``: the items added in order (0.0 for no items)."""
    out = 0.0
    for value in items:
        out = out + value
    return out


# ----------------------------------------------------------------- adjoints (in place)
def add_item(adjoint, index, g):
    """``adjoint[index] += g`` without changing the array object stored there."""
    adjoint[index] = adjoint[index] + g
    return adjoint


def add_stacked(adjoint, g, axis=0):
    """Add slice ``k`` of ``g`` along ``axis`` to item ``k`` of the adjoint list."""
    parts = np.moveaxis(np.asarray(g), axis, 0)
    for k in range(len(adjoint)):
        adjoint[k] = adjoint[k] + parts[k]
    return adjoint


def add_concatenated(adjoint, items, g, axis=0):
    """Add the piece of ``g`` that came from item ``k`` (along ``axis``) to item ``k``."""
    start = 0
    for k in range(len(adjoint)):
        width = np.shape(items[k])[axis]
        adjoint[k] = adjoint[k] + np.take(g, np.arange(start, start + width), axis)
        start += width
    return adjoint


def add_each(adjoint, g):
    """Add ``g`` to every item of the adjoint list (the adjoint of ``sum``)."""
    for k in range(len(adjoint)):
        adjoint[k] = adjoint[k] + g
    return adjoint


# ----------------------------------------------------------------------- Numba twins
# (see runtime/twins.py: recorded here, applied by srcgrad.backends.numba)
@numba_twin(stack_items)
def _stack_items(items, axis=0):
    item = items.dtype
    ndim = item.ndim + 1 if isinstance(item, types.Array) else 1
    k = literal_axis(axis, ndim)
    if k is None:
        return None
    if is_scalar(item):
        dtype = numba.np.numpy_support.as_dtype(item)

        def scalars(items, axis=0):
            out = np.empty(len(items), dtype)
            for j in range(len(items)):
                out[j] = items[j]
            return out
        return scalars
    back = from_front(k, ndim)

    def arrays(items, axis=0):
        first = items[0]
        out = np.empty((len(items),) + first.shape, first.dtype)
        for j in range(len(items)):
            out[j] = items[j]
        if k == 0:
            return out
        return np.ascontiguousarray(out.transpose(back))
    return arrays


@numba_twin(concatenate_items)
def _concatenate_items(items, axis=0):
    item = items.dtype
    if not isinstance(item, types.Array):
        return None
    k = literal_axis(axis, item.ndim)
    if k is None:
        return None
    front, back = to_front(k, item.ndim), from_front(k, item.ndim)

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


@numba_twin(sum_items)
def _sum_items(items):
    if is_scalar(items.dtype):
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


@numba_twin(add_item)
def _add_item(adjoint, index, g):
    def impl(adjoint, index, g):
        adjoint[index] = adjoint[index] + g
        return adjoint
    return impl


@numba_twin(add_each)
def _add_each(adjoint, g):
    def impl(adjoint, g):
        for j in range(len(adjoint)):
            adjoint[j] = adjoint[j] + g
        return adjoint
    return impl


@numba_twin(add_stacked)
def _add_stacked(adjoint, g, axis=0):
    ndim = g.ndim if isinstance(g, types.Array) else 0
    k = literal_axis(axis, ndim)
    if k is None:
        return None
    front = to_front(k, ndim)

    def impl(adjoint, g, axis=0):
        parts = g.transpose(front) if k != 0 else g
        for j in range(len(adjoint)):
            adjoint[j] = adjoint[j] + parts[j]
        return adjoint
    return impl


@numba_twin(add_concatenated)
def _add_concatenated(adjoint, items, g, axis=0):
    if not isinstance(g, types.Array):
        return None
    k = literal_axis(axis, g.ndim)
    if k is None:
        return None
    front, back = to_front(k, g.ndim), from_front(k, g.ndim)
    widths = widths_impl(items, k)
    cut_ = njit(cut)

    def impl(adjoint, items, g, axis=0):
        pieces = cut_(g, widths(items), front, back)
        for j in range(len(adjoint)):
            adjoint[j] = adjoint[j] + pieces[j]
        return adjoint
    return impl

