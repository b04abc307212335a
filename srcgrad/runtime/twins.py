"""Numba twins: each runtime helper's Numba implementation, recorded beside the helper.

Generated code calls the same helper objects (``unbroadcast``, ``zeros_like``, typed stack
constructors...) with and without jit, so the source is identical in both modes.  A
helper's Numba implementation is an ``numba.extending.overload`` typing function; it is
written next to the Python helper it mirrors, decorated ``@numba_twin(helper)``, which
only records it: importing a runtime module never imports Numba.  The Numba backend
(``srcgrad.backends.numba``) applies ``overload(helper, **options)(twin)`` to every
recorded twin when it is imported, and to any twin recorded later.

Typing functions run only under Numba, so they may use the ``types`` and ``numba`` names
exported here: they stand for ``numba.core.types`` and ``numba`` and import them on first
use.  They are proxies, so a *compiled* body (the implementation a twin returns) must not
name them: bind what it needs (``from numba import literally``) inside the typing
function, and compile shared kernels with ``njit`` below.
"""

from __future__ import annotations

import importlib

import numpy as np

#: (helper, typing function, overload options), in the order they were recorded
_TWINS: list = []
_APPLY = None


def numba_twin(*helpers, **options):
    """Record the decorated typing function as the Numba twin of ``helpers``."""
    def record(impl):
        for helper in helpers:
            _TWINS.append((helper, impl, options))
            if _APPLY is not None:
                _APPLY(helper, impl, options)
        return impl
    return record


def apply_twins(apply) -> None:
    """Call ``apply(helper, impl, options)`` for every twin, now and when one is recorded
    later (the Numba backend's registration)."""
    global _APPLY
    _APPLY = apply
    for helper, impl, options in list(_TWINS):
        apply(helper, impl, options)


def twinned() -> set:
    """The ids of every helper that has a twin."""
    return {id(helper) for helper, _, _ in _TWINS}


class _Lazy:
    """A module imported on first attribute access."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute):
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self):
        return f"<lazy module {self._name}>"


types = _Lazy("numba.core.types")
numba = _Lazy("numba")

_COMPILED: dict = {}


def njit(fn, **options):
    """``numba.njit(**options)(fn)``, made once: kernels shared by twins stay plain Python
    functions until a twin needs them."""
    key = (fn, tuple(sorted(options.items())))
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = numba.njit(**options)(fn)
    return compiled


# ----------------------------------------------------------------- typing predicates
def is_scalar(t) -> bool:
    return isinstance(t, (types.Number, types.Boolean))


def no_axis(axis) -> bool:
    """An omitted or None argument (``axis``, ``ord``, ``dtype``...)."""
    return axis is None or isinstance(axis, (types.NoneType, types.Omitted))


def literal_axis(axis, ndim):
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


def to_front(axis, ndim):
    """The permutation moving ``axis`` to the front (``from_front`` undoes it)."""
    return (axis,) + tuple(k for k in range(ndim) if k != axis)


def from_front(axis, ndim):
    return tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, ndim))


# ----------------------------------------------------------------- shared kernels
def cut(g, widths, front, back):
    """The pieces of ``g`` along an axis (moved to the front by ``front``, back by
    ``back``), ``widths[j]`` wide: the cotangents of concatenated arrays (compiled with
    ``njit``)."""
    parts = g.transpose(front)
    out = [np.ascontiguousarray(parts[0:0].transpose(back)) for _ in range(0)]
    start = 0
    for width in widths:
        out.append(np.ascontiguousarray(parts[start:start + width].transpose(back)))
        start += width
    return out


def widths_impl(arrays, k):
    """A compiled ``widths(arrays)``: each piece's extent along axis ``k``."""
    from numba import literal_unroll
    if isinstance(arrays, types.BaseTuple):             # pieces may differ in layout
        def widths(arrays):
            out = np.empty(len(arrays), np.int64)
            j = 0
            for a in literal_unroll(arrays):
                out[j] = a.shape[k]
                j += 1
            return out
        return numba.njit(widths)
    return numba.njit(lambda arrays: np.array([a.shape[k] for a in arrays], np.int64))
