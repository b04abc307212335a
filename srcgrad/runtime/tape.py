"""The runtime tape: per-value stacks plus the few helpers generated loops call.

The forward sweep appends what the reverse sweep will need and the reverse sweep pops
it back, one stack per recorded value, so nothing of mixed type shares a stack.  In
plain Python a stack is a list; under Numba each typed constructor's twin (at the end of
this module, see ``runtime/twins.py``) builds an empty typed list.
"""

from __future__ import annotations

import numpy as np

from srcgrad.runtime.twins import numba, numba_twin, types


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


# ----------------------------------------------------------------------- Numba twins
# (see runtime/twins.py: recorded here, applied by srcgrad.backends.numba)
def _register_stack(suffix: str):
    """``stack_<suffix>()``: an empty list, typed by an item it never holds (``f64_2d``
    holds 2-d float64 arrays, ``list_f64_2d`` lists of them)."""
    ctor = globals()[f"stack_{suffix}"]
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
    numba_twin(ctor, inline="always")(lambda: impl)


for _suffix in TAPE_TYPES:
    _register_stack(_suffix)


def _register_history(ctor, dtype):
    @numba_twin(ctor, inline="always")
    def _history(n):
        def impl(n):
            return np.empty(max(n, 0), dtype)
        return impl


for _ctor, _dtype in ((hist_f64, np.float64), (hist_f32, np.float32),
                      (hist_i64, np.int64), (hist_bool, np.bool_)):
    _register_history(_ctor, _dtype)


@numba_twin(reversed_range, inline="always")
def _reversed_range(start, stop, step):
    def impl(start, stop, step):
        n = len(range(start, stop, step))
        if n == 0:
            return 0, 0, 1
        return start + (n - 1) * step, start - step, -step
    return impl


@numba_twin(copy_value)
def _copy_value(value):
    if isinstance(value, types.Array):
        return lambda value: value.copy()
    return lambda value: value


@numba_twin(add_at)
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

