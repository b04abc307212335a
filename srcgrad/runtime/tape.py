"""The runtime tape: per-value stacks plus the few helpers generated loops call.

The forward sweep appends what the reverse sweep will need and the reverse sweep pops
it back, one stack per recorded value, so nothing of mixed type shares a stack.  In
plain Python a stack is a list; the Numba backend swaps in typed versions.
"""

from __future__ import annotations

import numpy as np


def stack():
    """A new, empty stack for one recorded value (``append`` / ``pop``) of unknown type."""
    return []


# Typed constructors: the generated code names the element type, so the Numba backend can
# give each stack a concrete type (an empty list has none).  In Python they are all lists.
_ITEM_TYPES = ["f64", "f32", "i64", "bool"] + [f"{d}_{n}d" for d in ("f64", "f32", "i64", "bool")
                                               for n in (1, 2, 3)]
# ``list_f64_1d``: a stack of lists of 1-d float64 arrays (lists built inside loops)
TAPE_TYPES = _ITEM_TYPES + [f"list_{t}" for t in _ITEM_TYPES]


def _typed_stack(suffix):
    def make():
        return []
    make.__name__ = make.__qualname__ = f"stack_{suffix}"
    make.__doc__ = f"A new, empty stack of {suffix} values."
    return make


for _suffix in TAPE_TYPES:
    globals()[f"stack_{_suffix}"] = _typed_stack(_suffix)


# Histories: for a range loop whose trip count is known on entry, one preallocated array
# per recorded value, written and read at the iteration's position (no growth, no pops).
def hist_f64(n):
    """A history of ``n`` float64 values."""
    return np.empty(max(n, 0), np.float64)


def hist_f32(n):
    """A history of ``n`` float32 values."""
    return np.empty(max(n, 0), np.float32)


def hist_i64(n):
    """A history of ``n`` integers."""
    return np.empty(max(n, 0), np.int64)


def hist_bool(n):
    """A history of ``n`` branch decisions."""
    return np.empty(max(n, 0), np.bool_)


def reversed_range(start, stop, step):
    """(start, stop, step) of ``range`` visiting ``range(start, stop, step)`` backwards."""
    n = len(range(start, stop, step))
    if n == 0:
        return 0, 0, 1
    last = start + (n - 1) * step
    return last, start - step, -step


def add_at(target, index, value):
    """``target[index] += value`` that also accumulates repeated integer-array indices;
    returns ``target`` (its new version, for code that differentiates generated code)."""
    np.add.at(target, index, value)
    return target


def copy_value(value):
    """A copy of an array (its contents may be overwritten later); scalars as they are."""
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


# Lists as values: generated code (and code that differentiates generated code) treats a
# stack as a list whose every change makes a new version, so its data flow stays explicit.
# Generated source spells these as ``items.append(value)`` and ``items.pop()``.
def list_append(items, value):
    """``items.append(value)``, returning the list (its new version)."""
    items.append(value)
    return items


def list_pop(items):
    """``items.pop()``: the last value (the list's new version is ``list_version``)."""
    return items.pop()


def list_version(items, popped):
    """The list after ``popped = list_pop(items)``: ties the new version to the pop."""
    return items
