"""Reading lists whose length is known only at run time.

A list the user builds with ``append`` in a loop (or a comprehension over a run-time
``range``) stays a Python list in generated code.  Lowering turns every read of the whole
list or of one item into one of these primitives, so each has a derivative rule:
``stack_items`` is ``np.stack`` (and ``np.array``) of the items, ``concatenate_items`` is
``np.concatenate``, ``sum_items`` is ``sum`` and ``item`` is ``items[index]``.

Their adjoints update the adjoint list (one cotangent per item, the same length as the
list) in place and return it: ``add_*`` below.  Accumulating into the existing adjoint
keeps a loop that reads ``xs[i]`` linear in the list's length.
"""

from __future__ import annotations

import numpy as np


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
