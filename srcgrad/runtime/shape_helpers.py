"""Runtime helpers for the rules of ``srcgrad/rules/shapes.py``, and Numba twins for the
forms of NumPy shape functions that Numba lacks (``np.squeeze``, ``np.flip`` with an
axis...).

A twin of a NumPy function only handles the forms Numba does not: it returns None for
every other form, so Numba's own implementation is used there.  Axes must be constants
in the code (Numba then types them as literals): a twin builds, once per literal form, a
small function by indexing (``a[:, ::-1]``), so every layout works and nothing is copied
that NumPy would not copy.
"""

from __future__ import annotations

import numpy as np

from srcgrad.runtime.twins import literal_axis, no_axis, numba_twin, types

__all__: list = []

_BUILT: dict = {}


def _build(params: str, body: str, **names):
    """A function ``def impl(<params>): <body>`` (one expression or several lines),
    made once per text."""
    key = (params, body, tuple(sorted((k, id(v)) for k, v in names.items())))
    fn = _BUILT.get(key)
    if fn is None:
        lines = body.split("\n")
        lines[-1] = "return " + lines[-1]
        src = f"def impl({params}):\n" + "".join(f"    {ln}\n" for ln in lines)
        scope = {"np": np, **names}
        exec(src, scope)
        fn = _BUILT[key] = scope["impl"]
    return fn


def _literal_axes(axis, ndim):
    """A literal int or tuple of ints as sorted non-negative axes, or None."""
    if isinstance(axis, (types.Tuple, types.UniTuple)):
        items = getattr(axis, "types", None) or [axis.dtype] * axis.count
        out = [literal_axis(t, ndim) for t in items]
        return None if None in out else tuple(sorted(out))
    one = literal_axis(axis, ndim)
    return None if one is None else (one,)


def _index(ndim, at: dict) -> str:
    """An index expression ``[:, 0, ::-1]``: ``at[d]`` on axis ``d``, ``:`` elsewhere."""
    return "[" + ", ".join(at.get(d, ":") for d in range(ndim)) + "]"


# ----------------------------------------------------------------------- NumPy gaps
@numba_twin(np.squeeze)
def _np_squeeze(a, axis=None):
    """``np.squeeze(a, axis)`` with a constant axis (or tuple); without an axis the
    result's rank depends on the lengths, which Numba does not know when it compiles."""
    if not isinstance(a, types.Array):
        return None
    if no_axis(axis):
        from numba.core.errors import TypingError
        raise TypingError("np.squeeze without axis= under jit: the rank of its result "
                          "depends on the lengths of the axes; give axis=")
    axes = _literal_axes(axis, a.ndim)
    if axes is None:
        return None
    check = "".join(f"if a.shape[{d}] != 1:\n    raise ValueError('cannot select an axis "
                    f"to squeeze out which has size not equal to one')\n" for d in axes)
    return _build("a, axis=None", check + "a" + _index(a.ndim, {d: "0" for d in axes}))


@numba_twin(np.flip)
def _np_flip(m, axis=None):
    """``np.flip(m, axis)`` with a constant axis, tuple or None (Numba has ``np.flip(m)``)."""
    if not isinstance(m, types.Array) or isinstance(axis, types.Omitted):
        return None
    axes = tuple(range(m.ndim)) if no_axis(axis) else _literal_axes(axis, m.ndim)
    if axes is None:
        return None
    return _build("m, axis=None", "m" + _index(m.ndim, {d: "::-1" for d in axes}))


@numba_twin(np.rot90)
def _np_rot90(m, k=1, axes=(0, 1)):
    """``np.rot90(m, k, axes)`` with the plane given (Numba has ``np.rot90(m, k)``): flips
    and a swap of the plane's two axes, as NumPy does it."""
    if not isinstance(m, types.Array) or isinstance(axes, types.Omitted):
        return None
    turns, plane = literal_axis(k, 4), _literal_axes(axes, m.ndim)
    if turns is None or plane is None:
        return None
    a0, a1 = (literal_axis(t, m.ndim) for t in axes.types)
    turns %= 4
    swap = list(range(m.ndim))
    swap[a0], swap[a1] = a1, a0
    swap = tuple(swap)
    body = {0: "m", 2: "m" + _index(m.ndim, {a0: "::-1", a1: "::-1"}),
            1: f"m{_index(m.ndim, {a1: '::-1'})}.transpose({swap})",
            3: f"m.transpose({swap}){_index(m.ndim, {a1: '::-1'})}"}[turns]
    return _build("m, k=1, axes=(0, 1)", body)


def _atleast(ndim):
    def twin(ary):
        if isinstance(ary, (types.Number, types.Boolean)):
            return _build("ary", f"np.full({(1,) * ndim}, ary)")
        return None
    return twin


numba_twin(np.atleast_1d)(_atleast(1))
numba_twin(np.atleast_2d)(_atleast(2))
numba_twin(np.atleast_3d)(_atleast(3))
