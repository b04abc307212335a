"""Runtime helpers for the rules of ``srcgrad/rules/shapes.py``, and Numba twins for the
forms of NumPy shape functions that Numba lacks (``np.squeeze``, ``np.flip`` with an
axis...).

A twin of a NumPy function only handles the forms Numba does not: it returns None for
every other form, so Numba's own implementation is used there.  Axes must be constants
in the code (Numba then types them as literals): a twin builds, once per literal form, a
small function by indexing (``a[:, ::-1]``), so every layout works and nothing is copied
that NumPy would not copy.

Each helper's twin is kept in this module beside the helper (as in ``numpy_helpers``),
so that a change to one is seen next to the other; that is why the module runs past
500 lines.
"""

from __future__ import annotations

import math

import numpy as np

from srcgrad.runtime.broadcast import as_scalar
from srcgrad.runtime.numpy_helpers import (_exclusive_products, centered, extremum_mask, mT, prod_others,
                                           reduced_count, reshape_as, reverse_cumsum, unreduce)
from srcgrad.runtime.twins import (cut, from_front, literal_axis, njit, no_axis, numba_twin, to_front,
                                   types)

__all__ = ["unrepeat", "undiff", "sort_order", "untake_along", "cumprod_grad", "cumprod_jvp",
           "cumprod_jvp2", "cumprod_hvp", "not_nan", "unhstack", "unvstack",
           "uncolumn_stack", "undiagonal", "untake", "untile",
           "trapezoid_weights", "unweights"]

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


def _omitted(value) -> bool:
    """An argument the call left out (the typing function sees its default value)."""
    return isinstance(value, types.Omitted) or not isinstance(value, types.Type)


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


# ----------------------------------------------------------------------- helpers
def undiff(g, n=1, axis=-1):
    """The adjoint of ``np.diff(a, n, axis)``: for n = 1 entry ``j`` receives
    ``g[j-1] - g[j]`` (zero beyond the ends), applied ``n`` times."""
    g = np.asarray(g)
    for _ in range(n):
        pad = [(0, 0)] * g.ndim
        pad[axis] = (1, 1)
        g = -np.diff(np.pad(g, pad), axis=axis)
    return g


def sort_order(a, axis=-1):
    """The permutation ``np.sort`` applies (``np.argsort``; the flattened one for None)."""
    return np.argsort(a, axis=axis)


def untake_along(g, arr, indices, axis):
    """The adjoint of ``np.take_along_axis(arr, indices, axis)``: ``g`` added back at the
    entries it was read from (repeated indices add up), in ``arr``'s shape."""
    out = np.zeros(np.shape(arr), np.result_type(g))
    if axis is None:
        np.add.at(out.reshape(-1), indices, g)
        return out
    grid = list(np.indices(np.shape(indices), sparse=True))
    grid[axis] = indices
    np.add.at(out, tuple(grid), g)
    return out


# np.cumprod's derivatives, exact where entries are zero: dividing ``ans`` by ``a`` is
# wrong there, so the products are carried along each row with their derivatives (dual
# numbers), p_k = p_{k-1} a_k and dp_k = dp_{k-1} a_k + p_{k-1} t_k, and the adjoint runs
# the same recurrence backwards.  The kernels take 2-d rows (one row per cumulative
# product) and loop over the row, vectorised over the rows; the Numba twins compile them.
def _cumprod_grad_rows(b, gb):
    """Adjoint: entry j gets left_j * s_j, left_j = prod_{i<j} a_i, s_j = g_j + a_{j+1} s_{j+1}."""
    out = b * gb                        # (every entry is written below)
    n = b.shape[1]
    s = np.zeros(b.shape[0], out.dtype)
    for j in range(n - 1, -1, -1):
        s = gb[:, j] + b[:, j + 1] * s if j + 1 < n else gb[:, j] + s
        out[:, j] = s
    left = np.ones(b.shape[0], out.dtype)
    for j in range(n):
        out[:, j] = out[:, j] * left
        left = left * b[:, j]
    return out


def _cumprod_jvp_rows(b, tb):
    out = b * tb
    p = np.ones(b.shape[0], out.dtype)
    dp = np.zeros(b.shape[0], out.dtype)
    for j in range(b.shape[1]):
        dp = dp * b[:, j] + p * tb[:, j]
        p = p * b[:, j]
        out[:, j] = dp
    return out


def _cumprod_jvp2_rows(b, tb, sb):
    """Second derivative in the directions t and s (hyper-dual numbers)."""
    out = b * tb * sb
    p = np.ones(b.shape[0], out.dtype)
    dt = np.zeros(b.shape[0], out.dtype)
    ds = np.zeros(b.shape[0], out.dtype)
    dd = np.zeros(b.shape[0], out.dtype)
    for j in range(b.shape[1]):
        dd = dd * b[:, j] + dt * sb[:, j] + ds * tb[:, j]
        dt = dt * b[:, j] + p * tb[:, j]
        ds = ds * b[:, j] + p * sb[:, j]
        p = p * b[:, j]
        out[:, j] = dd
    return out


def _cumprod_hvp_rows(b, gb, tb):
    """The adjoint of the s-recurrence of ``_cumprod_jvp2_rows``: w with
    <w, s> = <g, jvp2(t, s)>, from the exclusive products p and their slopes dp."""
    out = b * gb * tb
    m, n = b.shape
    before = b * tb                     # p_{k-1}, then dp_{k-1} below
    slope = b * tb
    p = np.ones(m, out.dtype)
    dp = np.zeros(m, out.dtype)
    for k in range(n):
        before[:, k] = p
        slope[:, k] = dp
        dp = dp * b[:, k] + p * tb[:, k]
        p = p * b[:, k]
    lam = np.zeros(m, out.dtype)
    mu = np.zeros(m, out.dtype)
    for k in range(n - 1, -1, -1):
        if k + 1 < n:
            mu = b[:, k + 1] * mu + tb[:, k + 1] * lam
            lam = gb[:, k] + b[:, k + 1] * lam
        else:
            lam = gb[:, k] + lam
        out[:, k] = lam * slope[:, k] + mu * before[:, k]
    return out


def _rows_along(x, axis, shape):
    """``x`` (``shape``, or flat for ``axis=None``) as 2-d rows along ``axis``."""
    x = np.asarray(x)
    if axis is None:
        return x.reshape(1, -1)
    moved = np.moveaxis(x.reshape(shape), axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def _rowwise(kernel, a, axis, flat, *xs):
    """``kernel`` over the rows of ``a`` and ``xs`` along ``axis``; the result flat for
    ``axis=None`` if ``flat`` (cumprod's shape), else in ``a``'s shape."""
    shape = np.shape(a)
    out = kernel(_rows_along(a, axis, shape), *[_rows_along(x, axis, shape) for x in xs])
    if axis is None:
        return out.reshape(-1) if flat else reshape_as(out, a)
    moved = np.moveaxis(np.empty(shape, out.dtype), axis, -1).shape
    return np.moveaxis(out.reshape(moved), -1, axis)


def cumprod_grad(g, a, axis=None):
    """The cotangent of ``a`` in ``np.cumprod(a, axis)`` for the output cotangent ``g``:
    entry ``j`` receives ``sum_{k >= j} g_k prod_{i <= k, i != j} a_i``."""
    return _rowwise(_cumprod_grad_rows, a, axis, False, g)


def cumprod_jvp(t, a, axis=None):
    """The derivative of ``np.cumprod(a, axis)`` in the direction ``t`` (``a``'s shape)."""
    return _rowwise(_cumprod_jvp_rows, a, axis, True, t)


def cumprod_jvp2(t, s, a, axis=None):
    """The second derivative of ``np.cumprod(a, axis)`` in the directions ``t`` and ``s``
    (symmetric in them): the derivative of ``cumprod_jvp(t, a)`` along ``s``."""
    return _rowwise(_cumprod_jvp2_rows, a, axis, True, t, s)


def cumprod_hvp(g, t, a, axis=None):
    """``w`` in ``a``'s shape with ``<w, s> = <g, cumprod_jvp2(t, s, a)>`` for every ``s``:
    the derivative of ``cumprod_grad(g, a)`` along ``t``, and the cotangent of ``a`` in
    ``cumprod_jvp(t, a)`` (and in ``cumprod_grad(t, a)``) for the cotangent ``g``."""
    return _rowwise(_cumprod_hvp_rows, a, axis, False, g, t)


# np.hstack, np.vstack and np.column_stack promote their inputs (to 1-d, rows, columns)
# and concatenate them; the cotangent is cut at the promoted widths and laid back out in
# each input's shape.
def _hstack_width(x, axis):
    return 1 if np.ndim(x) == 0 else np.shape(x)[axis]


def _vstack_width(x, axis):
    return 1 if np.ndim(x) < 2 else np.shape(x)[0]


def _column_width(x, axis):
    return 1 if np.ndim(x) < 2 else np.shape(x)[1]


def _unjoin(g, arrays, axis, width):
    sizes = [width(x, axis) for x in arrays]
    pieces = np.split(g, np.cumsum(sizes)[:-1], axis=axis)
    return tuple(reshape_as(p, x) for p, x in zip(pieces, arrays))


def unhstack(g, tup):
    """The cotangent of ``np.hstack(tup)``, one piece per input in its shape (a tuple):
    joined along axis 0 when every input has at most one axis, else along axis 1."""
    return _unjoin(g, tup, 0 if np.ndim(g) == 1 else 1, _hstack_width)


def unvstack(g, tup):
    """The cotangent of ``np.vstack(tup)`` (inputs of fewer than 2 axes were one row)."""
    return _unjoin(g, tup, 0, _vstack_width)


def uncolumn_stack(g, tup):
    """The cotangent of ``np.column_stack(tup)`` (inputs of fewer than 2 axes were one column)."""
    return _unjoin(g, tup, 1, _column_width)


def not_nan(a):
    """1.0 where ``a`` is a number, 0.0 where it is NaN (``a``'s shape and floating type):
    the entries NaN-ignoring reductions (``np.nansum``...) read."""
    if not isinstance(a, (np.ndarray, np.generic)):
        return 0.0 if math.isnan(a) else 1.0
    return as_scalar((~np.isnan(a)).astype(np.result_type(a, 1.0)))


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
    if not isinstance(m, types.Array) or _omitted(axis):
        return None
    axes = tuple(range(m.ndim)) if no_axis(axis) else _literal_axes(axis, m.ndim)
    if axes is None:
        return None
    return _build("m, axis=None", "m" + _index(m.ndim, {d: "::-1" for d in axes}))


@numba_twin(np.rot90)
def _np_rot90(m, k=1, axes=(0, 1)):
    """``np.rot90(m, k, axes)`` with the plane given (Numba has ``np.rot90(m, k)``): flips
    and a swap of the plane's two axes, as NumPy does it."""
    if not isinstance(m, types.Array) or _omitted(axes):
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


# ----------------------------------------------------------------------- reductions
# Numba reduces over every axis (and np.sum over one); with an axis, a tuple of axes,
# keepdims or ddof the twins below regroup the array as rows, one per output entry
# (kept axes first, reduced axes last, as a 2-d C array), and reduce each row.
def _bool_literal(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, types.Omitted):
        return bool(value.value)
    if isinstance(value, types.BooleanLiteral):
        return value.literal_value
    return None


def _form(a, axis, keepdims):
    """(axes, keepdims) of a reduction of ``a`` written with constants, or None."""
    keep = _bool_literal(keepdims)
    if not isinstance(a, types.Array) or keep is None:
        return None
    axes = tuple(range(a.ndim)) if no_axis(axis) else _literal_axes(axis, a.ndim)
    return None if axes is None else (axes, keep)


def _shape(ndim, axes, keepdims, src="a"):
    """Code for the shape of a reduction's result (1 at reduced axes with keepdims)."""
    dims = ["1" if d in axes else f"{src}.shape[{d}]" for d in range(ndim)
            if keepdims or d not in axes]
    return "(" + "".join(d + ", " for d in dims) + ")"


def _rows(ndim, axes, src="a"):
    """Code setting ``b``: ``src`` as rows, one per reduction group."""
    kept = [d for d in range(ndim) if d not in axes]
    lead = "*".join(f"{src}.shape[{d}]" for d in kept) or "1"
    perm = tuple(kept + list(axes))
    return f"b = np.ascontiguousarray({src}.transpose({perm})).reshape(({lead}, -1))"


def _float(dtype, always):
    from numba.np.numpy_support import as_dtype
    if always and not isinstance(dtype, types.Float):
        return np.float64
    return as_dtype(dtype).type


def _reduce(a, axes, keepdims, row, params, always_float=False):
    """A twin body reducing each row ``r`` of ``a`` with the expression ``row``."""
    out = "out[0]" if not keepdims and len(axes) == a.ndim else \
        f"out.reshape({_shape(a.ndim, axes, keepdims)})"
    body = "\n".join([_rows(a.ndim, axes), "out = np.empty(b.shape[0], DT)",
                      "for i in range(b.shape[0]):\n    r = b[i]\n    out[i] = " + row, out])
    return _build(params, body, DT=_float(a.dtype, always_float))


def _reduction_twin(fn, row, always_float=False, native_axis=False):
    def twin(a, axis=None, keepdims=False):
        omitted = _omitted(keepdims)
        if omitted and (_omitted(axis) or (native_axis and isinstance(axis, types.Integer))):
            return None                 # Numba's own
        form = _form(a, axis, keepdims)
        return form and _reduce(a, *form, row, "a, axis=None, keepdims=False", always_float)
    numba_twin(fn)(twin)


_reduction_twin(np.sum, "np.sum(r)", native_axis=True)
_reduction_twin(np.mean, "np.mean(r)", always_float=True)
_reduction_twin(np.prod, "np.prod(r)")
for _fn in (np.max, np.amax):
    _reduction_twin(_fn, "np.max(r)")
for _fn in (np.min, np.amin):
    _reduction_twin(_fn, "np.min(r)")
_reduction_twin(np.nansum, "np.nansum(r)")
_reduction_twin(np.nanmean, "np.nanmean(r)", always_float=True)
_reduction_twin(np.nanmax, "np.nanmax(r)")
_reduction_twin(np.nanmin, "np.nanmin(r)")
_reduction_twin(np.ptp, "np.ptp(r)")

_SQUARES = "np.sum((r - np.mean(r)) ** 2) / (r.size - ddof)"


def _spread_twin(fn, row):
    def twin(a, axis=None, ddof=0, keepdims=False):
        if all(_omitted(p) for p in (axis, ddof, keepdims)):
            return None                 # Numba's own
        form = _form(a, axis, keepdims)
        return form and _reduce(a, *form, row, "a, axis=None, ddof=0, keepdims=False", True)
    numba_twin(fn)(twin)


_spread_twin(np.var, _SQUARES)
_spread_twin(np.std, f"np.sqrt({_SQUARES})")


# ------------------------------------------------- the reductions' rule helpers, any axes
def _axes_text(axes):
    return "(" + "".join(f"{d}, " for d in axes) + ")"


@numba_twin(unreduce)
def _unreduce_axes(g, a, axis=None, keepdims=False):
    """``g`` spread back over the reduced axes, for a tuple of axes or keepdims."""
    if not (isinstance(axis, (types.BaseTuple, types.NoneType)) or _bool_literal(keepdims)):
        return None                     # numpy_helpers' twins (one int axis)
    form = _form(a, axis, keepdims)
    if form is None:
        return None
    params = "g, a, axis=None, keepdims=False"
    if isinstance(g, (types.Number, types.Boolean)):
        return _build(params, "np.full(a.shape, g)")
    return _build(params, f"np.broadcast_to(np.ascontiguousarray(g).reshape("
                          f"{_shape(a.ndim, form[0], True)}), a.shape).copy()")


@numba_twin(reduced_count)
def _reduced_count_axes(a, axis=None):
    if no_axis(axis) or not isinstance(a, types.Array):
        return None
    axes = _literal_axes(axis, a.ndim)
    return axes and _build("a, axis=None", "*".join(f"a.shape[{d}]" for d in axes))


@numba_twin(centered)
def _centered_axes(a, axis=None):
    if no_axis(axis) or not isinstance(a, types.Array):
        return None
    axes = _literal_axes(axis, a.ndim)
    return axes and _build("a, axis=None", f"a - np.mean(a, axis={_axes_text(axes)}, keepdims=True)")


@numba_twin(extremum_mask)
def _extremum_mask_axes(a, ans, axis=None, keepdims=False):
    if no_axis(axis) and not _bool_literal(keepdims):
        return None                     # numpy_helpers' twin
    form = _form(a, axis, keepdims)
    if form is None:
        return None
    axes = _axes_text(form[0])
    body = f"hit = (a == unreduce(ans, a, {axes}, {form[1]})).astype(a.dtype)\n" \
           f"hit / np.sum(hit, axis={axes}, keepdims=True)"
    return _build("a, ans, axis=None, keepdims=False", body, unreduce=unreduce)


@numba_twin(prod_others)
def _prod_others_axes(a, axis=None):
    if no_axis(axis) or not isinstance(a, types.Array):
        return None
    axes = _literal_axes(axis, a.ndim)
    if axes is None:
        return None
    kept = [d for d in range(a.ndim) if d not in axes]
    perm = tuple(kept + list(axes))
    moved = "(" + "".join(f"a.shape[{d}], " for d in perm) + ")"
    back = tuple(perm.index(d) for d in range(a.ndim))
    body = "\n".join([_rows(a.ndim, axes), "out = np.empty_like(b)",
                      "for i in range(b.shape[0]):\n    out[i] = kernel(b[i], np.zeros_like(b[i]))[0]",
                      f"np.ascontiguousarray(out.reshape({moved}).transpose({back}))"])
    return _build("a, axis=None", body, kernel=njit(_exclusive_products))


@numba_twin(reverse_cumsum)
def _reverse_cumsum_axis(g, axis=None):
    if no_axis(axis) or not isinstance(g, types.Array) or g.ndim == 1:
        return None                     # numpy_helpers' twin
    k = literal_axis(axis, g.ndim)
    if k is None:
        return None
    return _build("g, axis=None", f"np.ascontiguousarray(np.flip(np.cumsum(np.flip(g, {k}), "
                                  f"axis={k}), {k}))")


# ------------------------------------------------- differences, shifts and orders, any axis
def _last(ndim, k, src, at):
    """``src`` indexed with ``at`` on axis ``k``: ``g[:, 1:]``."""
    return src + _index(ndim, {k: at})


@numba_twin(np.diff)
def _np_diff_axis(a, n=1, axis=-1):
    if not isinstance(a, types.Array) or _omitted(axis):
        return None                     # Numba's own (the last axis)
    k = literal_axis(axis, a.ndim)
    if k is None:
        return None
    step = f"{_last(a.ndim, k, 'out', '1:')} - {_last(a.ndim, k, 'out', ':-1')}"
    return _build("a, n=1, axis=-1", f"out = np.ascontiguousarray(a)\nfor _ in range(n):\n"
                                     f"    out = np.ascontiguousarray({step})\nout")


@numba_twin(undiff)
def _undiff(g, n=1, axis=-1):
    if not isinstance(g, types.Array):
        return None
    k = literal_axis(axis, g.ndim)
    if k is None:
        return None
    grown = "(" + "".join(f"out.shape[{d}]{' + 1' if d == k else ''}, " for d in range(g.ndim)) + ")"
    loop = (f"for _ in range(n):\n    p = np.zeros({grown}, out.dtype)\n"
            f"    {_last(g.ndim, k, 'p', '1:')} += out\n    {_last(g.ndim, k, 'p', ':-1')} -= out\n"
            f"    out = p")
    return _build("g, n=1, axis=-1", f"out = np.ascontiguousarray(g)\n{loop}\nout")


@numba_twin(np.roll)
def _np_roll_axis(a, shift, axis=None):
    if not isinstance(a, types.Array) or _omitted(axis) \
            or not isinstance(shift, types.Integer):
        return None                     # Numba's own (flattened)
    if no_axis(axis):
        return _build("a, shift, axis=None", "np.roll(a, shift)")
    k = literal_axis(axis, a.ndim)
    if k is None:
        return None
    parts = f"({_last(a.ndim, k, 'a', 's:')}, {_last(a.ndim, k, 'a', ':s')})"
    return _build("a, shift, axis=None", f"n = a.shape[{k}]\ns = (n - shift % n) % n\n"
                                         f"np.concatenate({parts}, axis={k})")


def _as_rows(ndim, k, src):
    """Code: ``src`` with axis ``k`` moved last, as C rows (``_rows`` of one axis)."""
    return _rows(ndim, (k,), src).replace("b = ", "")


def _from_rows(ndim, k, rows, like):
    """Code: rows laid back out in ``like``'s shape, axis ``k`` back in place."""
    perm = [d for d in range(ndim) if d != k] + [k]
    moved = "(" + "".join(f"{like}.shape[{d}], " for d in perm) + ")"
    back = tuple(perm.index(d) for d in range(ndim))
    return f"np.ascontiguousarray({rows}.reshape({moved}).transpose({back}))"


@numba_twin(sort_order)
def _sort_order(a, axis=-1):
    if not isinstance(a, types.Array):
        return None
    if no_axis(axis):
        return _build("a, axis=-1", "np.argsort(np.ravel(a))")
    k = literal_axis(axis, a.ndim)
    if k is None:
        return None
    body = [f"b = {_as_rows(a.ndim, k, 'a')}", "out = np.empty(b.shape, np.int64)",
            "for i in range(b.shape[0]):\n    out[i] = np.argsort(b[i])", _from_rows(a.ndim, k, "out", "a")]
    return _build("a, axis=-1", "\n".join(body))


@numba_twin(untake_along)
def _untake_along(g, arr, indices, axis):
    if not isinstance(g, types.Array):
        return None
    if no_axis(axis):
        body = ["out = np.zeros(arr.size, g.dtype)", "flat, at = np.ravel(g), np.ravel(indices)",
                "for j in range(flat.size):\n    out[at[j]] += flat[j]", "out.reshape(arr.shape)"]
        return _build("g, arr, indices, axis", "\n".join(body))
    k = literal_axis(axis, g.ndim)
    if k is None:
        return None
    body = [f"rows, at = {_as_rows(g.ndim, k, 'g')}, {_as_rows(g.ndim, k, 'indices')}",
            f"out = np.zeros({_as_rows(g.ndim, k, 'arr')}.shape, g.dtype)",
            "for i in range(rows.shape[0]):\n    for j in range(rows.shape[1]):\n"
            "        out[i, at[i, j]] += rows[i, j]", _from_rows(g.ndim, k, "out", "arr")]
    return _build("g, arr, indices, axis", "\n".join(body))


@numba_twin(np.sort)
def _np_sort_axis(a, axis=-1):
    if not isinstance(a, types.Array) or _omitted(axis):
        return None                     # Numba's own (the last axis)
    if no_axis(axis):
        return _build("a, axis=-1", "np.sort(np.ravel(a))")
    k = literal_axis(axis, a.ndim)
    if k is None:
        return None
    body = [f"b = {_as_rows(a.ndim, k, 'a')}", "out = np.empty_like(b)",
            "for i in range(b.shape[0]):\n    out[i] = np.sort(b[i])", _from_rows(a.ndim, k, "out", "a")]
    return _build("a, axis=-1", "\n".join(body))


@numba_twin(np.take_along_axis)
def _np_take_along_default(arr, indices, axis=-1):
    """The default axis (-1, NumPy 2.3) and None (the flattened array); Numba needs an int."""
    if not isinstance(arr, types.Array):
        return None
    if _omitted(axis):
        return _build("arr, indices, axis=-1", f"np.take_along_axis(arr, indices, {arr.ndim - 1})")
    if isinstance(axis, types.NoneType):
        return _build("arr, indices, axis=-1", "np.ravel(arr)[indices]")
    return None


# ------------------------------------------------- np.cumprod's helpers, any axis
def _rowwise_twin(kernel, a, axis, flat, params, operands):
    """The Numba form of ``_rowwise``: the ``operands`` (arrays of ``a``'s shape, or flat
    for ``axis=None``) as rows along a constant axis, through the compiled kernel."""
    params += ", axis=None"
    if not isinstance(a, types.Array):
        return None
    if no_axis(axis):
        args = ", ".join(f"np.ascontiguousarray({n}).reshape((1, -1))" for n in operands)
        back = "np.ravel(out)" if flat else "out.reshape(a.shape)"
        return _build(params, f"out = kernel(np.ascontiguousarray(a).reshape((1, -1)), {args})\n"
                              f"{back}", kernel=njit(kernel))
    k = literal_axis(axis, a.ndim)
    if k is None:
        return None
    rows = ", ".join(_as_rows(a.ndim, k, n) for n in operands)
    body = [f"out = kernel({_as_rows(a.ndim, k, 'a')}, {rows})", _from_rows(a.ndim, k, "out", "a")]
    return _build(params, "\n".join(body), kernel=njit(kernel))


@numba_twin(cumprod_grad)
def _cumprod_grad(g, a, axis=None):
    return _rowwise_twin(_cumprod_grad_rows, a, axis, False, "g, a", ("g",))


@numba_twin(cumprod_jvp)
def _cumprod_jvp(t, a, axis=None):
    return _rowwise_twin(_cumprod_jvp_rows, a, axis, True, "t, a", ("t",))


@numba_twin(cumprod_jvp2)
def _cumprod_jvp2(t, s, a, axis=None):
    return _rowwise_twin(_cumprod_jvp2_rows, a, axis, True, "t, s, a", ("t", "s"))


@numba_twin(cumprod_hvp)
def _cumprod_hvp(g, t, a, axis=None):
    return _rowwise_twin(_cumprod_hvp_rows, a, axis, False, "g, t, a", ("g", "t"))


@numba_twin(np.cumprod)
def _np_cumprod_axis(a, axis=None):
    if not isinstance(a, types.Array) or no_axis(axis):
        return None                     # Numba's own (flattened)
    k = literal_axis(axis, a.ndim)
    if k is None:
        return None
    body = [f"b = {_as_rows(a.ndim, k, 'a')}", "out = np.empty_like(b)",
            "for i in range(b.shape[0]):\n    out[i] = np.cumprod(b[i])", _from_rows(a.ndim, k, "out", "a")]
    return _build("a, axis=None", "\n".join(body))


@numba_twin(not_nan)
def _not_nan(a):
    if isinstance(a, types.Array):
        return _build("a", "(~np.isnan(a)).astype(DT)", DT=_float(a.dtype, True))
    if isinstance(a, types.Number):
        return _build("a", "0.0 if np.isnan(a) else 1.0")
    return None


@numba_twin(np.asarray)
def _np_asarray_of_arrays(a, dtype=None):
    """``np.asarray`` of a tuple of same-shaped arrays stacks them (Numba's takes numbers)."""
    if isinstance(a, types.UniTuple) and isinstance(a.dtype, types.Array) and no_axis(dtype):
        return _build("a, dtype=None", "np.stack(a)")
    return None



def _join_twin(g, tup, name, axis, width):
    """Numba form of ``_unjoin`` for a tuple of inputs: widths known per item type."""
    if not isinstance(g, types.Array) or not isinstance(tup, types.BaseTuple):
        return None
    items = list(tup.types) if hasattr(tup, "types") else [tup.dtype] * tup.count
    widths = ", ".join(width(j, getattr(t, "ndim", 0), axis) for j, t in enumerate(items))
    pieces = "".join(f"np.ascontiguousarray(p[{j}]).reshape(tup[{j}].shape), "
                     if isinstance(t, types.Array) else f"np.ravel(p[{j}])[0], "
                     for j, t in enumerate(items))
    front, back = to_front(axis, g.ndim), from_front(axis, g.ndim)
    body = f"p = cut(g, np.array([{widths}], np.int64), {front}, {back})\n({pieces})"
    return _build("g, tup", body, cut=njit(cut))


@numba_twin(unhstack)
def _unhstack(g, tup):
    axis = 0 if getattr(g, "ndim", 0) == 1 else 1
    return _join_twin(g, tup, "unhstack", axis,
                      lambda j, nd, k: "1" if nd == 0 else f"tup[{j}].shape[{k}]")


@numba_twin(unvstack)
def _unvstack(g, tup):
    return _join_twin(g, tup, "unvstack", 0, lambda j, nd, k: "1" if nd < 2 else f"tup[{j}].shape[0]")


@numba_twin(uncolumn_stack)
def _uncolumn_stack(g, tup):
    return _join_twin(g, tup, "uncolumn_stack", 1, lambda j, nd, k: "1" if nd < 2 else f"tup[{j}].shape[1]")


def _promoted_join(tup, promote, axis):
    """``np.concatenate`` of the tuple's items once promoted (``promote(j, item type)`` is
    the code of item ``j``), for the mixed forms Numba's own functions refuse."""
    if not isinstance(tup, types.BaseTuple):
        return None
    items = list(tup.types) if hasattr(tup, "types") else [tup.dtype] * tup.count
    if all(isinstance(t, types.Array) for t in items) and len({t.ndim for t in items}) == 1:
        return None                     # Numba's own
    parts = "".join(promote(j, t) + ", " for j, t in enumerate(items))
    return _build("tup", f"np.concatenate(({parts}), axis={axis})")


def _as_row(j, t):
    if not isinstance(t, types.Array):
        return f"np.full((1, 1), tup[{j}])"
    return f"np.ascontiguousarray(tup[{j}]).reshape((1, -1))" if t.ndim == 1 else f"tup[{j}]"


@numba_twin(np.hstack)
def _np_hstack_mixed(tup):
    if not isinstance(tup, types.BaseTuple):
        return None
    items = list(tup.types) if hasattr(tup, "types") else [tup.dtype] * tup.count
    flat = all(getattr(t, "ndim", 0) <= 1 for t in items)
    return _promoted_join(tup, lambda j, t: f"tup[{j}]" if isinstance(t, types.Array)
                          else f"np.full(1, tup[{j}])", 0 if flat else 1)


@numba_twin(np.vstack)
def _np_vstack_mixed(tup):
    return _promoted_join(tup, _as_row, 0)


# ----------------------------------------------------------------------- np.repeat
def unrepeat(g, a, repeats, axis=None):
    """The adjoint of ``np.repeat(a, repeats, axis)`` for an integer ``repeats``: each
    entry of ``a`` receives the sum of the cotangents of its copies."""
    if axis is None:
        return np.sum(np.reshape(g, (np.size(a), repeats)), axis=1).reshape(np.shape(a))
    axis = axis % np.ndim(a)
    shape = np.shape(a)
    return np.sum(np.reshape(g, shape[:axis] + (shape[axis], repeats) + shape[axis + 1:]),
                  axis=axis + 1)


@numba_twin(unrepeat)
def _unrepeat(g, a, repeats, axis=None):
    if not (no_axis(axis) and isinstance(a, types.Array) and isinstance(g, types.Array)):
        return None                      # Numba's np.repeat takes no axis either
    return lambda g, a, repeats, axis=None: np.sum(
        np.ascontiguousarray(g).reshape((a.size, repeats)), axis=1).reshape(a.shape)


@numba_twin(np.repeat)
def _np_repeat(a, repeats, axis=None):
    """``np.repeat(a, repeats, None)`` as generated tangent code writes it (Numba's own
    takes no third argument); a given axis stays refused."""
    if isinstance(axis, types.NoneType):
        return lambda a, repeats, axis=None: np.repeat(a, repeats)
    return None


@numba_twin(np.matrix_transpose)
def _np_matrix_transpose(x):
    return lambda x: mT(x)



# ----------------------------------------------------------------------- np.diagonal
def undiagonal(g, a, offset=0, axis1=0, axis2=1):
    """The adjoint of ``np.diagonal(a, offset, axis1, axis2)``: ``g`` (the diagonals along
    its last axis) placed back on the ``offset`` diagonal of the (``axis1``, ``axis2``)
    planes of a zero array of ``a``'s shape."""
    out = np.zeros(np.shape(a), np.result_type(g))
    planes = np.moveaxis(out, (axis1, axis2), (-2, -1))     # a view: written through
    rows = np.arange(np.shape(g)[-1]) + max(-offset, 0)
    planes[..., rows, rows + offset] = g
    return out


@numba_twin(np.diagonal)
def _np_diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal`` of a matrix (Numba has none); a copy, not a view."""
    if not (isinstance(a, types.Array) and a.ndim == 2):
        return None

    def impl(a, offset=0, axis1=0, axis2=1):
        m = a.T if axis1 % 2 == 1 else a
        n = max(0, min(m.shape[0] - max(-offset, 0), m.shape[1] - max(offset, 0)))
        out = np.empty(n, a.dtype)
        for i in range(n):
            out[i] = m[i + max(-offset, 0), i + max(offset, 0)]
        return out
    return impl


@numba_twin(undiagonal)
def _undiagonal(g, a, offset=0, axis1=0, axis2=1):
    if not (isinstance(g, types.Array) and g.ndim == 1 and isinstance(a, types.Array) and a.ndim == 2):
        return None

    def impl(g, a, offset=0, axis1=0, axis2=1):
        out = np.zeros(a.shape, g.dtype)
        m = out.T if axis1 % 2 == 1 else out
        for i in range(g.shape[0]):
            m[i + max(-offset, 0), i + max(offset, 0)] = g[i]
        return out
    return impl


# ----------------------------------------------------------------------- np.take
def untake(g, a, indices, axis=None):
    """The adjoint of ``np.take(a, indices, axis)``: ``g`` added back at the entries it
    was read from (repeated indices add up), in ``a``'s shape."""
    out = np.zeros(np.shape(a), np.result_type(g))
    if axis is None:
        np.add.at(out.reshape(-1), indices, g)
    else:
        np.add.at(out, (slice(None),) * (axis % out.ndim) + (indices,), g)
    return out


@numba_twin(untake)
def _untake(g, a, indices, axis=None):
    """Flat (axis None) for any indices; along a literal axis for 1-d indices."""
    if not (isinstance(g, types.Array) and isinstance(a, types.Array)
            and isinstance(indices, types.Array)):
        return None
    if no_axis(axis):
        body = ["out = np.zeros(a.size, g.dtype)", "flat, at = np.ravel(g), np.ravel(indices)",
                "for j in range(flat.size):\n    out[at[j]] += flat[j]", "out.reshape(a.shape)"]
        return _build("g, a, indices, axis=None", "\n".join(body))
    k = literal_axis(axis, a.ndim)
    if k is None or indices.ndim != 1:
        return None
    to, at = _index(a.ndim, {k: "indices[j]"}), _index(a.ndim, {k: "j"})
    body = ["out = np.zeros(a.shape, g.dtype)",
            f"for j in range(indices.shape[0]):\n    out{to} = out{to} + g{at}", "out"]
    return _build("g, a, indices, axis=None", "\n".join(body))


# ----------------------------------------------------------------------- np.tile
def untile(g, a, reps):
    """The adjoint of ``np.tile(a, reps)`` for an integer ``reps`` and an array ``a`` of
    at least one axis: the sum of the ``reps`` tiles along the last axis."""
    shape = np.shape(a)
    return np.sum(np.reshape(g, shape[:-1] + (reps, shape[-1])), axis=-2)


def _last_tile(ndim, at):
    return _index(ndim, {ndim - 1: at})


@numba_twin(np.tile)
def _np_tile(a, reps):
    """``np.tile`` with an integer ``reps`` (Numba has none): copies along the last axis."""
    if not (isinstance(a, types.Array) and a.ndim >= 1 and isinstance(reps, types.Integer)):
        return None
    n = a.ndim
    shape = "(" + "".join(f"a.shape[{d}], " for d in range(n - 1)) + f"reps * a.shape[{n - 1}],)"
    body = [f"w = a.shape[{n - 1}]", f"out = np.empty({shape}, a.dtype)",
            f"for r in range(reps):\n    out{_last_tile(n, 'r * w:(r + 1) * w')} = a", "out"]
    return _build("a, reps", "\n".join(body))


@numba_twin(untile)
def _untile(g, a, reps):
    if not (isinstance(g, types.Array) and isinstance(a, types.Array) and a.ndim >= 1):
        return None
    n = a.ndim
    body = [f"w = a.shape[{n - 1}]", "out = np.zeros(a.shape, g.dtype)",
            f"for r in range(reps):\n    out = out + g{_last_tile(n, 'r * w:(r + 1) * w')}", "out"]
    return _build("g, a, reps", "\n".join(body))


# ----------------------------------------------------------------------- np.trapezoid
def trapezoid_weights(y, x=None, dx=1.0, axis=-1):
    """The weights of ``np.trapezoid(y, x, dx, axis)``, linear in ``y``: entry ``j`` along
    ``axis`` weighs ``(d[j-1] + d[j]) / 2`` (``d`` the spacings, zero beyond the ends).
    Shaped to broadcast against ``y``: a 1-d ``x`` (or ``dx``) lies along ``axis``."""
    nd = np.ndim(y)
    k = axis % nd
    if x is None:
        w = np.full(np.shape(y)[k], float(dx))
        w[0] -= dx / 2
        w[-1] -= dx / 2
    else:
        x = np.asarray(x, dtype=float)
        d = np.diff(x, axis=-1 if x.ndim == 1 else k) / 2
        pad = [(0, 0)] * x.ndim
        pad[-1 if x.ndim == 1 else k] = (1, 0)
        w = np.pad(d, pad)
        pad[-1 if x.ndim == 1 else k] = (0, 1)
        w = w + np.pad(d, pad)
    if w.ndim == 1:
        w = w.reshape((-1,) + (1,) * (nd - 1 - k))
    return w


@numba_twin(trapezoid_weights)
def _trapezoid_weights(y, x=None, dx=1.0, axis=-1):
    if not isinstance(y, types.Array):
        return None
    k = literal_axis(axis, y.ndim)
    if k is None:
        return None
    along = "(" + "-1, " + "".join("1, " for _ in range(y.ndim - 1 - k)) + ")"
    params = "y, x=None, dx=1.0, axis=-1"
    if no_axis(x):
        return _build(params, f"w = np.full(y.shape[{k}], float(dx))\nw[0] -= dx / 2\n"
                              f"w[-1] -= dx / 2\nw.reshape({along})")
    if not isinstance(x, types.Array):
        return None
    j = 0 if x.ndim == 1 else k
    hi, lo = _index(x.ndim, {j: "1:"}), _index(x.ndim, {j: ":-1"})
    grown = "(" + "".join(f"x.shape[{d}], " for d in range(x.ndim)) + ")"
    body = [f"d = (x{hi} - x{lo}) / 2", f"w = np.zeros({grown}, d.dtype)",
            f"w{hi} += d", f"w{lo} += d",
            f"w.reshape({along})" if x.ndim == 1 else "w"]
    return _build(params, "\n".join(body))


@numba_twin(np.trapezoid)
def _np_trapezoid_axis(y, x=None, dx=1.0, axis=-1):
    """``np.trapezoid`` along a given axis (Numba's own takes none): the weighted sum."""
    if not isinstance(y, types.Array) or _omitted(axis):
        return None                     # Numba's own (the last axis)
    k = literal_axis(axis, y.ndim)
    if k is None:
        return None
    total = "np.sum(y * w)" if y.ndim == 1 else f"np.sum(y * w, axis={k})"
    return _build("y, x=None, dx=1.0, axis=-1",
                  f"w = trapezoid_weights(y, x, dx, axis)\n{total}",
                  trapezoid_weights=trapezoid_weights)


def unweights(g, y, x, axis=-1):
    """The adjoint of ``x -> trapezoid_weights(y, x, dx, axis)`` (linear in ``x``): ``g``
    in the weights' shape, the result in ``x``'s.  The weights are the spacings ``D x``
    averaged in pairs (``A``), so this is ``D^T A^T g``."""
    k = -1 if np.ndim(x) == 1 else axis
    g = np.reshape(g, np.shape(x)) if np.ndim(x) == 1 else g
    n = np.shape(g)[k]
    pairs = (np.take(g, np.arange(1, n), k) + np.take(g, np.arange(n - 1), k)) / 2
    return undiff(pairs, 1, k)


@numba_twin(unweights)
def _unweights(g, y, x, axis=-1):
    if not (isinstance(g, types.Array) and isinstance(x, types.Array) and isinstance(y, types.Array)):
        return None
    k = 0 if x.ndim == 1 else literal_axis(axis, y.ndim)
    if k is None:
        return None
    hi, lo = _index(x.ndim, {k: "1:"}), _index(x.ndim, {k: ":-1"})
    body = ["h = np.ascontiguousarray(g).reshape(x.shape)", f"s = (h{hi} + h{lo}) / 2",
            "out = np.zeros(x.shape, s.dtype)", f"out{hi} += s", f"out{lo} -= s", "out"]
    return _build("g, y, x, axis=-1", "\n".join(body))
