"""Runtime helpers for the rules of ``np.sinc``, ``np.average``, ``np.pad``, ``np.select``,
``np.interp`` and ``np.split`` (``srcgrad/rules/shapes.py``), each with its Numba twin
beside it (``srcgrad.runtime.twins``), so that generated code calls the same helper with
and without ``jit=True``.
"""

from __future__ import annotations

import math

import numpy as np

from srcgrad.runtime.broadcast import unbroadcast
from srcgrad.runtime.shape_helpers import _build, _literal_axes, _omitted
from srcgrad.runtime.twins import is_scalar, literal_axis, njit, no_axis, numba, numba_twin, types

__all__ = ["sinc_deriv", "spread_weights", "unspread_weights", "unpad", "pad_mask", "select_grads", "select_rest",
           "interp_slope", "uninterp", "interp_linear", "interp_beyond", "unslope"]


# ----------------------------------------------------------------------- np.sinc
_SERIES_TERMS = 30


def _sinc_deriv(n, x):
    """The ``n``-th derivative of sinc(x) = sin(pi x) / (pi x) at the float ``x``.

    For |x| < 1 the Taylor series sinc(x) = sum_k (-1)^k (pi x)^(2k) / (2k+1)!,
    differentiated n times (exact at 0, where odd derivatives vanish and sinc'' is
    -pi^2/3); elsewhere the recurrence from differentiating x sinc(x) = sin(pi x) / pi
    n times: x f^(m) + m f^(m-1) = pi^(m-1) sin^(m)(pi x).
    """
    if abs(x) < 1.0:
        total = 0.0
        a = 1.0                                 # (-1)^k pi^(2k) / (2k+1)!
        for k in range(_SERIES_TERMS):
            if k > 0:
                a = -a * math.pi * math.pi / ((2.0 * k) * (2.0 * k + 1.0))
            m = 2 * k - n
            if m >= 0:
                falling = 1.0                   # (2k)! / (2k-n)!
                for j in range(n):
                    falling *= 2.0 * k - j
                total += a * falling * x ** m
        return total
    s = math.sin(math.pi * x)
    c = math.cos(math.pi * x)
    f = s / (math.pi * x)
    power = 1.0 / math.pi                       # pi^(m-1)
    for m in range(1, n + 1):
        power *= math.pi
        r = m % 4                               # sin^(m) = sin, cos, -sin, -cos
        d = s if r == 0 else c if r == 1 else -s if r == 2 else -c
        f = (power * d - m * f) / x
    return f


def sinc_deriv(n, x):
    """The ``n``-th derivative of ``np.sinc`` at ``x`` (elementwise; n = 0 is sinc itself),
    exact at x == 0 for every n (see ``_sinc_deriv``)."""
    xa = np.asarray(x)
    dtype = xa.dtype if np.issubdtype(xa.dtype, np.floating) else np.dtype(np.float64)
    xa = xa.astype(np.float64)
    small = np.abs(xa) < 1.0
    xs = np.where(small, xa, 0.0)
    series = np.zeros_like(xa)
    a = 1.0
    for k in range(_SERIES_TERMS):
        if k > 0:
            a = -a * math.pi * math.pi / ((2.0 * k) * (2.0 * k + 1.0))
        m = 2 * k - n
        if m >= 0:
            falling = 1.0
            for j in range(n):
                falling *= 2.0 * k - j
            series = series + a * falling * xs ** m
    xl = np.where(small, 1.0, xa)
    s = np.sin(math.pi * xl)
    c = np.cos(math.pi * xl)
    f = s / (math.pi * xl)
    power = 1.0 / math.pi
    for m in range(1, n + 1):
        power *= math.pi
        r = m % 4
        d = s if r == 0 else c if r == 1 else -s if r == 2 else -c
        f = (power * d - m * f) / xl
    out = np.where(small, series, f).astype(dtype)
    return out if np.ndim(x) else out[()]


_VECTORIZED: dict = {}


def _vectorized(kernel):
    """``numba.vectorize(kernel)``, made once (a Numba ufunc: scalars and arrays alike)."""
    vec = _VECTORIZED.get(kernel)
    if vec is None:
        vec = _VECTORIZED[kernel] = numba.vectorize(kernel)
    return vec


@numba_twin(sinc_deriv)
def _sinc_deriv_twin(n, x):
    vec = _vectorized(_sinc_deriv)
    return lambda n, x: vec(n, x)


# ----------------------------------------------------------------------- np.average
# average(a, axis, weights) = sum(a * W, axis) / sum(W, axis), W the weights spread to a's
# shape (ones for None; 1-d weights lie along ``axis``, as NumPy allows).
def _weights_shape(weights, a, axis):
    """The shape 1-d ``weights`` take to broadcast along ``axis`` of ``a``."""
    ndim = np.ndim(a)
    if axis is None or not isinstance(axis, (int, np.integer)):
        raise ValueError("np.average: weights differing from a's shape need one int axis")
    shape = [1] * ndim
    shape[axis] = np.shape(weights)[0]
    return tuple(shape)


def spread_weights(weights, a, axis=None):
    """The weights of ``np.average(a, axis, weights)`` as a new array of ``a``'s shape:
    ones for None, ``weights`` itself (copied) for the same shape, 1-d weights laid along
    ``axis``.  Linear in ``weights``; ``unspread_weights`` is its adjoint."""
    if weights is None:
        return np.ones(np.shape(a))
    w = np.asarray(weights)
    if w.shape == np.shape(a):
        return np.array(w, dtype=np.result_type(w, 1.0))
    return np.ones(np.shape(a)) * w.reshape(_weights_shape(w, a, axis))


def unspread_weights(g, weights, a, axis=None):
    """The adjoint of ``spread_weights``: ``g`` (``a``'s shape) summed back into the
    weights' shape (over every axis but ``axis`` for 1-d weights)."""
    g = np.asarray(g)
    if np.shape(weights) == g.shape:
        return np.array(g)
    k = axis + g.ndim if axis < 0 else axis
    return np.sum(g, axis=tuple(d for d in range(g.ndim) if d != k))


def _weights_form(weights, a, axis):
    """("none" | "same" | "along", k): how a twin spreads the typed ``weights``."""
    if no_axis(weights) or not isinstance(a, types.Array):
        return "none", None
    if not isinstance(weights, types.Array):
        return None, None
    if weights.ndim == a.ndim:
        return "same", None
    k = literal_axis(axis, a.ndim)
    return ("along", k) if weights.ndim == 1 and k is not None else (None, None)


@numba_twin(spread_weights)
def _spread_weights(weights, a, axis=None):
    form, k = _weights_form(weights, a, axis)
    params = "weights, a, axis=None"
    if form == "none":
        return _build(params, "np.ones(a.shape)")
    if form == "same":
        return _build(params, "np.ones(a.shape) * weights")
    if form == "along":
        shape = "(" + "".join("weights.shape[0], " if d == k else "1, " for d in range(a.ndim)) + ")"
        return _build(params, f"np.ones(a.shape) * np.ascontiguousarray(weights).reshape({shape})")
    return None


@numba_twin(unspread_weights)
def _unspread_weights(g, weights, a, axis=None):
    form, k = _weights_form(weights, a, axis)
    params = "g, weights, a, axis=None"
    if form == "same":
        return _build(params, "g.copy()")
    if form == "along":
        perm = (k,) + tuple(d for d in range(a.ndim) if d != k)
        return _build(params, f"np.ascontiguousarray(g.transpose({perm})).reshape((g.shape[{k}], -1))"
                              f".sum(axis=1)")
    return None


@numba_twin(np.average)
def _np_average_axis(a, axis=None, weights=None, returned=False):
    """np.average over one literal axis or a tuple of them (Numba's own takes no axis)."""
    if no_axis(axis) or not isinstance(a, types.Array) or not _omitted(returned):
        return None
    axes = _literal_axes(axis, a.ndim)
    if axes is None:
        return None
    text = "(" + "".join(f"{d}, " for d in axes) + ")"
    params = "a, axis=None, weights=None, returned=False"
    if no_axis(weights):
        return _build(params, f"np.mean(a, axis={text})")
    return _build(params, f"w = spread_weights(weights, a, axis)\n"
                          f"np.sum(a * w, axis={text}) / np.sum(w, axis={text})",
                  spread_weights=spread_weights)


# ----------------------------------------------------------------------- np.pad
def _pad_pairs(pad_width, ndim):
    """``pad_width`` as (before, after) per axis, as ``np.pad`` reads it (an int, (n,),
    (before, after), or one such pair per axis)."""
    w = np.asarray(pad_width, dtype=np.int64)
    return np.broadcast_to(w.reshape(1, -1) if w.ndim <= 1 else w, (ndim, 2))


def unpad(g, array, pad_width):
    """The adjoint of constant ``np.pad(array, pad_width)``: the cotangent of the entries
    copied from ``array`` (``g`` without its borders), a new array."""
    g = np.asarray(g)
    pairs = _pad_pairs(pad_width, g.ndim)
    index = tuple(slice(int(b), g.shape[d] - int(a)) for d, (b, a) in enumerate(pairs))
    return np.array(g[index])


def pad_mask(array, pad_width):
    """1.0 on the border ``np.pad(array, pad_width)`` adds, 0.0 on ``array``'s entries: the
    derivative of the padded array with respect to a scalar ``constant_values``."""
    return np.pad(np.zeros(np.shape(array)), pad_width, constant_values=1.0)


def _pad_code(pad_width, ndim):
    """Code for the (before, after) pair of each axis from the typed ``pad_width``, or None."""
    def items(t):
        if isinstance(t, types.UniTuple):
            return [t.dtype] * t.count
        if isinstance(t, types.Tuple):
            return list(t.types)
        return None
    if isinstance(pad_width, types.Integer):
        return [("pad_width", "pad_width")] * ndim
    outer = items(pad_width)
    if not outer:
        return None
    if all(isinstance(t, types.Integer) for t in outer):
        if len(outer) == 1:
            return [("pad_width[0]", "pad_width[0]")] * ndim
        return [("pad_width[0]", "pad_width[1]")] * ndim if len(outer) == 2 else None
    inner = [items(t) for t in outer]
    if any(i is None or not 1 <= len(i) <= 2 or not all(isinstance(x, types.Integer) for x in i)
           for i in inner) or len(outer) not in (1, ndim):
        return None
    pairs = []
    for d in range(ndim):
        j = 0 if len(outer) == 1 else d
        last = 1 if len(inner[j]) == 2 else 0
        pairs.append((f"pad_width[{j}][0]", f"pad_width[{j}][{last}]"))
    return pairs


def _inside(pairs, src):
    """Index code for the entries of the padded ``src`` that the unpadded array fills."""
    return "[" + ", ".join(f"{b}:{src}.shape[{d}] - {a}" for d, (b, a) in enumerate(pairs)) + "]"


@numba_twin(np.pad)
def _np_pad_constant(array, pad_width, mode="constant", constant_values=0):
    """Constant np.pad (Numba has no np.pad): a filled array with ``array`` copied inside."""
    literal = getattr(mode, "literal_value", None)
    if not (_omitted(mode) or literal == "constant") or not isinstance(array, types.Array):
        return None
    if not (_omitted(constant_values) or isinstance(constant_values, (types.Number, types.Boolean))):
        return None
    pairs = _pad_code(pad_width, array.ndim)
    if pairs is None:
        return None
    shape, inside = _padded(pairs)
    body = f"out = np.full({shape}, constant_values, array.dtype)\nout{inside} = array\nout"
    return _build('array, pad_width, mode="constant", constant_values=0', body)


@numba_twin(unpad)
def _unpad(g, array, pad_width):
    if not isinstance(g, types.Array):
        return None
    pairs = _pad_code(pad_width, g.ndim)
    return pairs and _build("g, array, pad_width", f"g{_inside(pairs, 'g')}.copy()")


@numba_twin(pad_mask)
def _pad_mask(array, pad_width):
    if not isinstance(array, types.Array):
        return None
    pairs = _pad_code(pad_width, array.ndim)
    if pairs is None:
        return None
    shape, inside = _padded(pairs)
    return _build("array, pad_width", f"out = np.ones({shape})\nout{inside} = 0.0\nout")


def _padded(pairs) -> tuple[str, str]:
    """Source of the padded shape of ``array`` and of the index of its place inside."""
    shape = "(" + "".join(f"array.shape[{d}] + {b} + {a}, " for d, (b, a) in enumerate(pairs)) + ")"
    inside = "[" + ", ".join(f"{b}:{b} + array.shape[{d}]" for d, (b, a) in enumerate(pairs)) + "]"
    return shape, inside


# ----------------------------------------------------------------------- np.select
def select_grads(g, condlist, choicelist):
    """The cotangents of ``np.select(condlist, choicelist, default)``'s choices, a tuple:
    choice j receives ``g`` where condition j is the first that holds (summed down to the
    choice's shape)."""
    taken = np.zeros(np.shape(g), dtype=bool)
    out = []
    for cond, choice in zip(condlist, choicelist):
        hit = np.logical_and(cond, np.logical_not(taken))
        out.append(unbroadcast(np.where(hit, g, 0.0), choice))
        taken = np.logical_or(taken, cond)
    return tuple(out)


def select_rest(condlist):
    """1.0 where no condition holds (``np.select`` takes its default there), else 0.0."""
    return np.logical_not(np.any(np.broadcast_arrays(*condlist), axis=0)).astype(np.float64) \
        if len(condlist) > 1 else np.logical_not(condlist[0]).astype(np.float64)


@numba_twin(select_grads)
def _select_grads(g, condlist, choicelist):
    if not isinstance(g, types.Array) or not isinstance(choicelist, types.BaseTuple):
        return None
    lines = ["taken = np.zeros(g.shape, np.bool_)"]
    for j in range(len(choicelist)):
        lines += [f"hit = np.logical_and(condlist[{j}], np.logical_not(taken))",
                  f"out{j} = unbroadcast(np.where(hit, g, 0.0), choicelist[{j}])",
                  f"taken = np.logical_or(taken, condlist[{j}])"]
    lines.append("(" + "".join(f"out{j}, " for j in range(len(choicelist))) + ")")
    return _build("g, condlist, choicelist", "\n".join(lines), unbroadcast=unbroadcast)


@numba_twin(select_rest)
def _select_rest(condlist):
    if not isinstance(condlist, types.BaseTuple):
        return None
    lines = ["hit = condlist[0]"] + [f"hit = np.logical_or(hit, condlist[{j}])"
                                     for j in range(1, len(condlist))]
    lines.append("np.logical_not(hit).astype(np.float64)")
    return _build("condlist", "\n".join(lines))


# ----------------------------------------------------------------------- np.interp
# y(x) = fp[i] (1 - s) + fp[i+1] s on the segment xp[i] <= x < xp[i+1] (x == xp[-1] on the
# last one), s = (x - xp[i]) / (xp[i+1] - xp[i]); left (fp[0] if None) below xp[0], right
# (fp[-1] if None) above xp[-1].  The kernels take flat float arrays and are plain NumPy
# that Numba compiles too (the twins call them through njit).
def _segments(xf, xp):
    """(i, s, inside) for each entry of ``xf``: its segment, fraction, xp[0] <= x <= xp[-1]."""
    n = xp.shape[0]
    inside = np.logical_and(xf >= xp[0], xf <= xp[n - 1])
    if n == 1:
        return np.zeros(xf.shape[0], np.int64), np.zeros(xf.shape[0]), inside
    i = np.minimum(np.maximum(np.searchsorted(xp, xf, side="right") - 1, 0), n - 2)
    s = (xf - xp[i]) / (xp[i + 1] - xp[i])
    return i, s, inside


@numba_twin(_segments)
def _segments_twin(xf, xp):
    return _segments                    # called by the compiled kernels below


def _slope_flat(xf, xp, fp):
    """dy/dx: the slope of x's segment, 0 outside [xp[0], xp[-1]]."""
    if xp.shape[0] == 1:
        return np.zeros(xf.shape[0])
    i, s, inside = _segments(xf, xp)
    return np.where(inside, (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i]), 0.0)


def _uninterp_flat(gf, xf, xp, left_none, right_none):
    """The adjoint of y = W fp: gf spread onto fp by the weights (1 - s, s), and onto
    fp[0] / fp[-1] beyond the ends when left / right are None."""
    n = xp.shape[0]
    i, s, inside = _segments(xf, xp)
    out = np.bincount(i, weights=np.where(inside, gf * (1.0 - s), 0.0), minlength=n)
    if n > 1:
        out = out + np.bincount(i + 1, weights=np.where(inside, gf * s, 0.0), minlength=n)
    if left_none:
        out[0] += np.sum(np.where(xf < xp[0], gf, 0.0))
    if right_none:
        out[n - 1] += np.sum(np.where(xf > xp[n - 1], gf, 0.0))
    return out


def _linear_flat(xf, xp, tf, left_none, right_none):
    """W tf: np.interp of the values tf, 0 beyond the ends unless left / right are None."""
    n = xp.shape[0]
    i, s, inside = _segments(xf, xp)
    hi = tf[i + 1] if n > 1 else tf[i]
    out = np.where(inside, tf[i] * (1.0 - s) + hi * s, 0.0)
    if left_none:
        out = np.where(xf < xp[0], tf[0], out)
    if right_none:
        out = np.where(xf > xp[n - 1], tf[n - 1], out)
    return out


def _flat(x):
    return np.ravel(np.asarray(x, dtype=np.float64))


def _shaped(out, x):
    """``out`` (flat) in ``x``'s shape; a float for a scalar ``x``."""
    return float(out[0]) if np.ndim(x) == 0 else out.reshape(np.shape(x))


def interp_slope(x, xp, fp):
    """d np.interp(x, xp, fp) / dx: the slope of the segment holding x (the right-hand one
    at a knot, the last one at xp[-1]), 0 outside [xp[0], xp[-1]]."""
    return _shaped(_slope_flat(_flat(x), _flat(xp), _flat(fp)), x)


def uninterp(g, x, xp, left, right, fp):
    """The cotangent of ``fp`` in ``np.interp(x, xp, fp, left, right)`` (fp's shape)."""
    gf = np.ravel(np.broadcast_to(np.asarray(g, dtype=np.float64), np.shape(x)))
    return _uninterp_flat(gf, _flat(x), _flat(xp), left is None, right is None)


def interp_linear(x, xp, values, left, right):
    """The tangent of ``np.interp(x, xp, fp, left, right)`` along ``values`` in fp:
    np.interp(x, xp, values) with 0 beyond an end whose value was given."""
    return _shaped(_linear_flat(_flat(x), _flat(xp), _flat(values), left is None, right is None), x)


def _unslope_flat(gf, xf, xp):
    """The adjoint of the slope map fp -> (fp[i+1] - fp[i]) / (xp[i+1] - xp[i])."""
    n = xp.shape[0]
    if n == 1:
        return np.zeros(1)
    i, s, inside = _segments(xf, xp)
    w = np.where(inside, gf / (xp[i + 1] - xp[i]), 0.0)
    return np.bincount(i + 1, weights=w, minlength=n) - np.bincount(i, weights=w, minlength=n)


def unslope(g, x, xp, fp):
    """The cotangent of ``fp`` in ``interp_slope(x, xp, fp)`` (which is linear in fp)."""
    gf = np.ravel(np.broadcast_to(np.asarray(g, dtype=np.float64), np.shape(x)))
    return _unslope_flat(gf, _flat(x), _flat(xp))


def interp_beyond(x, xp, side):
    """1.0 where x is below xp[0] (side 0) or above xp[-1] (side 1), else 0.0: where
    np.interp takes ``left`` (``right``)."""
    xf, xpf = _flat(x), _flat(xp)
    hit = xf < xpf[0] if side == 0 else xf > xpf[xpf.shape[0] - 1]
    return _shaped(hit.astype(np.float64), x)


def _flat_code(name, t):
    """Code for the flat float64 array of the typed argument ``name``."""
    return f"np.array([np.float64({name})])" if is_scalar(t) else \
        f"np.ascontiguousarray({name}).astype(np.float64).ravel()"


def _shaped_code(x):
    return "out[0]" if is_scalar(x) else "out.reshape(x.shape)"


@numba_twin(interp_slope)
def _interp_slope(x, xp, fp):
    body = f"out = kernel({_flat_code('x', x)}, {_flat_code('xp', xp)}, {_flat_code('fp', fp)})\n" \
           + _shaped_code(x)
    return _build("x, xp, fp", body, kernel=njit(_slope_flat))


@numba_twin(uninterp)
def _uninterp(g, x, xp, left, right, fp):
    gf = "np.full(1, np.float64(g))" if is_scalar(g) else \
        "np.ascontiguousarray(np.broadcast_to(g, x.shape)).astype(np.float64).ravel()"
    body = f"kernel({gf}, {_flat_code('x', x)}, {_flat_code('xp', xp)}, " \
           f"{no_axis(left)}, {no_axis(right)})"
    return _build("g, x, xp, left, right, fp", body, kernel=njit(_uninterp_flat))


@numba_twin(interp_linear)
def _interp_linear(x, xp, values, left, right):
    body = f"out = kernel({_flat_code('x', x)}, {_flat_code('xp', xp)}, {_flat_code('values', values)}, " \
           f"{no_axis(left)}, {no_axis(right)})\n" + _shaped_code(x)
    return _build("x, xp, values, left, right", body, kernel=njit(_linear_flat))


@numba_twin(unslope)
def _unslope(g, x, xp, fp):
    gf = "np.full(1, np.float64(g))" if is_scalar(g) else \
        "np.ascontiguousarray(np.broadcast_to(g, x.shape)).astype(np.float64).ravel()"
    return _build("g, x, xp, fp", f"kernel({gf}, {_flat_code('x', x)}, {_flat_code('xp', xp)})",
                  kernel=njit(_unslope_flat))


@numba_twin(interp_beyond)
def _interp_beyond(x, xp, side):
    body = f"xf = {_flat_code('x', x)}\nxpf = {_flat_code('xp', xp)}\n" \
           "out = ((xf < xpf[0]) if side == 0 else (xf > xpf[xpf.shape[0] - 1])).astype(np.float64)\n" \
           + _shaped_code(x)
    return _build("x, xp, side", body)


@numba_twin(np.interp)
def _np_interp_ends(x, xp, fp, left=None, right=None):
    """np.interp with left / right given (Numba's own takes neither)."""
    if no_axis(left) and no_axis(right):
        return None
    lines = [f"out = np.interp({'np.float64(x)' if is_scalar(x) else 'x'}, xp, fp)",
             f"xf = {_flat_code('x', x)}", "flat = np.ravel(np.asarray(out))"]
    if not no_axis(left):
        lines.append("flat = np.where(xf < xp[0], np.float64(left), flat)")
    if not no_axis(right):
        lines.append("flat = np.where(xf > xp[xp.shape[0] - 1], np.float64(right), flat)")
    lines.append("flat[0]" if is_scalar(x) else "flat.reshape(x.shape)")
    return _build("x, xp, fp, left=None, right=None", "\n".join(lines))
