"""Derivative rules for NumPy's shape, indexing, reduction, product and integration
functions beyond the core ones of ``srcgrad/rules/numpy.py`` (moveaxis, roll, pad, take,
einsum, trapezoid...).

Same conventions as ``srcgrad/rules/numpy.py``.  A function Numba cannot compile gets a
Numba twin (``srcgrad.runtime.twins``) so that it runs under ``jit=True``, or declares
``no_jit`` with the reason.
"""

import dataclasses

import numpy as np

from srcgrad.rules.registry import NOT_CONSTANT, ZERO, declare, defjvp, defnondiff, defvjp
from srcgrad.runtime import index_helpers, shape_helpers  # noqa: F401  (record the Numba twins)
from srcgrad.runtime.broadcast import unbroadcast
from srcgrad.runtime.numpy_helpers import extremum_mask, mT, reshape_as, unarray, unreduce, zeros_like
from srcgrad.runtime.shape_helpers import (cumprod_grad, cumprod_hvp, cumprod_jvp, cumprod_jvp2,
                                           not_nan, sort_order, uncolumn_stack, undiagonal, undiff,
                                           trapezoid_weights, unhstack, unrepeat, untake, untake_along,
                                           untile, unvstack, unweights)
from srcgrad.runtime.index_helpers import (interp_beyond, interp_linear, interp_slope, pad_mask, select_grads, select_rest, sinc_deriv, spread_weights,
                                           uninterp, unpad, unslope, unspread_weights)
from srcgrad.runtime.broadcast import broadcast_like

# ----------------------------------------------------------------- moving axes (views)
# Permutations: the cotangent moves back by the inverse permutation.
defvjp(np.moveaxis, lambda g, ans, a, source, destination: np.moveaxis(g, destination, source))
defjvp(np.moveaxis, lambda t, ans, a, source, destination: np.moveaxis(t, source, destination))

# the array API's matrix transpose (NumPy 2): the last two axes swapped
defvjp(np.matrix_transpose, lambda g, ans, x: mT(g))
defjvp(np.matrix_transpose, lambda t, ans, x: mT(t))
declare(np.matrix_transpose, view=True)

defvjp(np.swapaxes, lambda g, ans, a, axis1, axis2: np.swapaxes(g, axis1, axis2))
defjvp(np.swapaxes, lambda t, ans, a, axis1, axis2: np.swapaxes(t, axis1, axis2))

# Reversals are their own inverse (and their own adjoint).
defvjp(np.flip, lambda g, ans, m, axis=None: np.flip(g, axis))
defjvp(np.flip, lambda t, ans, m, axis=None: np.flip(t, axis))

defvjp(np.fliplr, lambda g, ans, m: np.fliplr(g))
defjvp(np.fliplr, lambda t, ans, m: np.fliplr(t))

defvjp(np.flipud, lambda g, ans, m: np.flipud(g))
defjvp(np.flipud, lambda t, ans, m: np.flipud(t))

# rot90 by k is undone by rot90 by -k in the same plane.
defvjp(np.rot90, lambda g, ans, m, k=1, axes=(0, 1): np.rot90(g, -k, axes))
defjvp(np.rot90, lambda t, ans, m, k=1, axes=(0, 1): np.rot90(t, k, axes))

# Adding length-1 axes keeps every entry: the cotangent is reshaped back.
defvjp(np.atleast_1d, lambda g, ans, ary: reshape_as(g, ary))
defjvp(np.atleast_1d, lambda t, ans, ary: reshape_as(t, ans))

defvjp(np.atleast_2d, lambda g, ans, ary: reshape_as(g, ary))
defjvp(np.atleast_2d, lambda t, ans, ary: reshape_as(t, ans))

defvjp(np.atleast_3d, lambda g, ans, ary: reshape_as(g, ary))
defjvp(np.atleast_3d, lambda t, ans, ary: reshape_as(t, ans))

# Every copy of an entry receives its own cotangent: they are summed back.
defvjp(np.broadcast_to, lambda g, ans, array, shape: unbroadcast(g, array))
defjvp(np.broadcast_to, lambda t, ans, array, shape: np.broadcast_to(t, shape))

# ----------------------------------------------------------------- masks of a matrix
# Linear masks: the cotangent is masked the same way (a 1-d input was broadcast to rows).
defvjp(np.triu, lambda g, ans, m, k=0: unbroadcast(np.triu(g, k), m))
defjvp(np.triu, lambda t, ans, m, k=0: np.triu(t, k))

defvjp(np.tril, lambda g, ans, m, k=0: unbroadcast(np.tril(g, k), m))
defjvp(np.tril, lambda t, ans, m, k=0: np.tril(t, k))

# ----------------------------------------------------------------- facts
for _fn in (np.moveaxis, np.swapaxes, np.flip, np.fliplr, np.flipud, np.rot90, np.atleast_1d,
            np.atleast_2d, np.atleast_3d, np.broadcast_to):
    declare(_fn, view=True)
for _fn in (np.triu, np.tril):
    declare(_fn, fresh=True)
del _fn

# ----------------------------------------------------------------- differences, shifts, order
# np.repeat copies each entry repeats times: its adjoint sums the copies' cotangents
defvjp(np.repeat, lambda g, ans, a, repeats, axis=None: unrepeat(g, a, repeats, axis))
defjvp(np.repeat, lambda t, ans, a, repeats, axis=None: np.repeat(t, repeats, axis))
declare(np.repeat, fresh=True)
defvjp(unrepeat, lambda g, ans, grad, a, repeats, axis=None: np.repeat(g, repeats, axis),
       ZERO)
defjvp(unrepeat, lambda t, ans, grad, a, repeats, axis=None: unrepeat(t, a, repeats, axis),
       ZERO)

# np.diff is linear; its adjoint gives entry j the cotangents g[j-1] - g[j] (n times).
defvjp(np.diff, lambda g, ans, a, n=1, axis=-1: undiff(g, n, axis))
defjvp(np.diff, lambda t, ans, a, n=1, axis=-1: np.diff(t, n, axis))

defvjp(undiff, lambda g, ans, grad, n=1, axis=-1: np.diff(g, n, axis))
defjvp(undiff, lambda t, ans, grad, n=1, axis=-1: undiff(t, n, axis))

# out[i] = a[i - shift]: the cotangent rolls back by -shift (an int shift).
defvjp(np.roll, lambda g, ans, a, shift, axis=None: np.roll(g, -shift, axis))
defjvp(np.roll, lambda t, ans, a, shift, axis=None: np.roll(t, shift, axis))

# out = arr[indices] along axis: the cotangent is added back where each entry was read.
defvjp(np.take_along_axis, lambda g, ans, arr, indices, axis=-1: untake_along(g, arr, indices, axis))
defjvp(np.take_along_axis, lambda t, ans, arr, indices, axis=-1: np.take_along_axis(t, indices, axis))

defvjp(untake_along, lambda g, ans, grad, arr, indices, axis: np.take_along_axis(g, indices, axis), ZERO)
defjvp(untake_along, lambda t, ans, grad, arr, indices, axis: untake_along(t, arr, indices, axis), ZERO)

# Values follow their permutation (argsort): the cotangent is scattered back through it.
defvjp(np.sort, lambda g, ans, a, axis=-1: untake_along(g, a, sort_order(a, axis), axis))
defjvp(np.sort, lambda t, ans, a, axis=-1: np.take_along_axis(t, sort_order(a, axis), axis))

defnondiff(sort_order)
for _fn in (np.roll, np.sort, np.take_along_axis):
    declare(_fn, fresh=True)
declare(undiff, fresh=True)
del _fn

# ----------------------------------------------------------------- products along an axis
# np.cumprod: helpers exact where entries are zero (nothing is divided by ``a``); with
# axis=None the result is flat and the cotangent is laid back out in a's shape.
defvjp(np.cumprod, lambda g, ans, a, axis=None: cumprod_grad(g, a, axis))
defjvp(np.cumprod, lambda t, ans, a, axis=None: cumprod_jvp(t, a, axis))

# Helpers: cumprod_grad and cumprod_jvp are linear in their first argument and each
# other's transpose; their derivatives along ``a`` are the second derivative of cumprod,
# cumprod_jvp2 (symmetric in its two directions) and its adjoint cumprod_hvp.  Those two
# have no rules: a third derivative through np.cumprod is refused.
defvjp(cumprod_grad,
       lambda g, ans, grad, a, axis=None: cumprod_jvp(g, a, axis),
       lambda g, ans, grad, a, axis=None: cumprod_hvp(grad, g, a, axis))
defjvp(cumprod_grad,
       lambda t, ans, grad, a, axis=None: cumprod_grad(t, a, axis),
       lambda t, ans, grad, a, axis=None: cumprod_hvp(grad, t, a, axis))

defvjp(cumprod_jvp,
       lambda g, ans, tangent, a, axis=None: cumprod_grad(g, a, axis),
       lambda g, ans, tangent, a, axis=None: cumprod_hvp(g, tangent, a, axis))
defjvp(cumprod_jvp,
       lambda t, ans, tangent, a, axis=None: cumprod_jvp(t, a, axis),
       lambda t, ans, tangent, a, axis=None: cumprod_jvp2(tangent, t, a, axis))
for _fn in (cumprod_grad, cumprod_jvp, cumprod_jvp2, cumprod_hvp):
    declare(_fn, fresh=True)
del _fn

# np.asarray is np.array without the copy: a sequence of scalars/arrays is stacked.
defvjp(np.asarray, lambda g, ans, a, dtype=None: unarray(g, a), seq_params=(0,))
defjvp(np.asarray, lambda t, ans, a, dtype=None: np.asarray(t, dtype=dtype))

# ----------------------------------------------------------------- reductions ignoring NaN
# NaN entries are left out of the result, so they get a zero derivative (not_nan is 0
# there); the others are treated as np.sum/np.mean/np.max/np.min treat theirs.
defvjp(np.nansum,
       lambda g, ans, a, axis=None, *, keepdims=False: unreduce(g, a, axis, keepdims) * not_nan(a))
defjvp(np.nansum,
       lambda t, ans, a, axis=None, *, keepdims=False: np.sum(t * not_nan(a), axis=axis, keepdims=keepdims))

defvjp(np.nanmean,
       lambda g, ans, a, axis=None, *, keepdims=False: unreduce(g, a, axis, keepdims) * not_nan(a) / np.sum(not_nan(a), axis=axis, keepdims=True))
defjvp(np.nanmean,
       lambda t, ans, a, axis=None, *, keepdims=False: np.sum(t * not_nan(a), axis=axis, keepdims=keepdims) / np.sum(not_nan(a), axis=axis, keepdims=keepdims))

# NaN never equals the extremum, so extremum_mask already leaves it out (ties split evenly).
for _fn in (np.nanmax, np.nanmin):
    defvjp(_fn,
           lambda g, ans, a, axis=None, *, keepdims=False: unreduce(g, a, axis, keepdims) * extremum_mask(a, ans, axis, keepdims))
    defjvp(_fn,
           lambda t, ans, a, axis=None, *, keepdims=False: np.sum(t * extremum_mask(a, ans, axis, keepdims), axis=axis, keepdims=keepdims))

# max - min: the cotangent goes to the maximal entries and, negated, to the minimal ones.
defvjp(np.ptp,
       lambda g, ans, a, axis=None, *, keepdims=False: unreduce(g, a, axis, keepdims) * (extremum_mask(a, np.max(a, axis=axis, keepdims=keepdims), axis, keepdims) - extremum_mask(a, np.min(a, axis=axis, keepdims=keepdims), axis, keepdims)))
defjvp(np.ptp,
       lambda t, ans, a, axis=None, *, keepdims=False: np.sum(t * (extremum_mask(a, np.max(a, axis=axis, keepdims=keepdims), axis, keepdims) - extremum_mask(a, np.min(a, axis=axis, keepdims=keepdims), axis, keepdims)), axis=axis, keepdims=keepdims))

defnondiff(not_nan)
for _fn in (np.nansum, np.nanmean, np.nanmax, np.nanmin, np.ptp):
    declare(_fn, reduction=True, fresh=True)
del _fn

# ----------------------------------------------------------------- joining a sequence
# Sequence parameters, as np.concatenate's: one cotangent per array, cut at the widths the
# inputs had once promoted (to 1-d, to rows, to columns).
defvjp(np.hstack, lambda g, ans, tup: unhstack(g, tup), seq_params=(0,))
defjvp(np.hstack, lambda t, ans, tup: np.hstack(t))

defvjp(np.vstack, lambda g, ans, tup: unvstack(g, tup), seq_params=(0,))
defjvp(np.vstack, lambda t, ans, tup: np.vstack(t))

defvjp(np.column_stack, lambda g, ans, tup: uncolumn_stack(g, tup), seq_params=(0,))
defjvp(np.column_stack, lambda t, ans, tup: np.column_stack(t))

defvjp(unhstack, lambda g, ans, grad, tup: reshape_as(np.hstack(g), grad), ZERO)
defjvp(unhstack, lambda t, ans, grad, tup: unhstack(t, tup), ZERO)

defvjp(unvstack, lambda g, ans, grad, tup: reshape_as(np.vstack(g), grad), ZERO)
defjvp(unvstack, lambda t, ans, grad, tup: unvstack(t, tup), ZERO)

defvjp(uncolumn_stack, lambda g, ans, grad, tup: reshape_as(np.column_stack(g), grad), ZERO)
defjvp(uncolumn_stack, lambda t, ans, grad, tup: uncolumn_stack(t, tup), ZERO)

for _fn in (np.hstack, np.vstack, np.column_stack):
    declare(_fn, fresh=True)
del _fn

# ----------------------------------------------------------------- diagonals, takes, tiles
# np.diagonal reads one diagonal: its adjoint puts the cotangent back on it (zeros
# elsewhere).  A read-only view, like np.diag's: declared neither fresh nor a view (the
# view test expects every entry kept).
defvjp(np.diagonal,
       lambda g, ans, a, offset=0, axis1=0, axis2=1: undiagonal(g, a, offset, axis1, axis2))
defjvp(np.diagonal,
       lambda t, ans, a, offset=0, axis1=0, axis2=1: np.diagonal(t, offset, axis1, axis2))

defvjp(undiagonal,
       lambda g, ans, grad, a, offset=0, axis1=0, axis2=1: np.diagonal(g, offset, axis1, axis2), ZERO)
defjvp(undiagonal,
       lambda t, ans, grad, a, offset=0, axis1=0, axis2=1: undiagonal(t, a, offset, axis1, axis2), ZERO)

# np.take reads entries at constant indices: the cotangent is added back where each was read.
defvjp(np.take, lambda g, ans, a, indices, axis=None: untake(g, a, indices, axis))
defjvp(np.take, lambda t, ans, a, indices, axis=None: np.take(t, indices, axis))

defvjp(untake, lambda g, ans, grad, a, indices, axis=None: np.take(g, indices, axis), ZERO)
defjvp(untake, lambda t, ans, grad, a, indices, axis=None: untake(t, a, indices, axis), ZERO)

# np.tile with an integer reps repeats a along its last axis: the tiles' cotangents add up.
defvjp(np.tile, lambda g, ans, a, reps: untile(g, a, reps))
defjvp(np.tile, lambda t, ans, a, reps: np.tile(t, reps))

defvjp(untile, lambda g, ans, grad, a, reps: np.tile(g, reps), ZERO)
defjvp(untile, lambda t, ans, grad, a, reps: untile(t, a, reps), ZERO)

for _fn in (np.take, np.tile, undiagonal, untake, untile):
    declare(_fn, fresh=True)
del _fn

# ----------------------------------------------------------------- integration
# np.trapezoid is linear in y, sum(y * w) along the axis with the weights w the mean of the
# spacings on either side, and linear in x (w = A D x, D the spacings, A the mean of each
# pair): the cotangent of x is D^T A^T applied to the cotangent of w (unweights).  dx stays
# constant (no rule).
defvjp(np.trapezoid,
       lambda g, ans, y, x=None, dx=1.0, axis=-1: unreduce(g, y, axis) * trapezoid_weights(y, x, dx, axis),
       lambda g, ans, y, x=None, dx=1.0, axis=-1: unweights(unbroadcast(unreduce(g, y, axis) * y, trapezoid_weights(y, x, dx, axis)), y, x, axis))
defjvp(np.trapezoid,
       lambda t, ans, y, x=None, dx=1.0, axis=-1: np.trapezoid(t, x, dx, axis),
       lambda t, ans, y, x=None, dx=1.0, axis=-1: np.trapezoid(y, t, dx, axis))

# Both helpers are linear in their differentiated argument and each other's adjoint.
defvjp(trapezoid_weights, ZERO, lambda g, ans, y, x=None, dx=1.0, axis=-1: unweights(g, y, x, axis))
defjvp(trapezoid_weights, ZERO, lambda t, ans, y, x=None, dx=1.0, axis=-1: trapezoid_weights(y, t, dx, axis))

defvjp(unweights, lambda g, ans, grad, y, x, axis=-1: trapezoid_weights(y, g, 1.0, axis), ZERO, ZERO)
defjvp(unweights, lambda t, ans, grad, y, x, axis=-1: unweights(t, y, x, axis), ZERO, ZERO)

for _fn in (np.trapezoid, trapezoid_weights, unweights):
    declare(_fn, fresh=True)
del _fn

# ----------------------------------------------------------------- np.sinc
# sinc(x) = sin(pi x) / (pi x), 1 at 0.  Its derivatives come from sinc_deriv(n, x), the
# n-th derivative, exact at x == 0 (a Taylor series there): sinc'(0) = 0, sinc''(0) =
# -pi^2/3.  sinc_deriv's own rule is sinc_deriv(n + 1, x), so every order is exact.
defvjp(np.sinc, lambda g, ans, x: g * sinc_deriv(1, x))
defjvp(np.sinc, lambda t, ans, x: t * sinc_deriv(1, x))
declare(np.sinc, elementwise=True, fresh=True)

defvjp(sinc_deriv, None, lambda g, ans, n, x: g * sinc_deriv(n + 1, x))
defjvp(sinc_deriv, None, lambda t, ans, n, x: t * sinc_deriv(n + 1, x))

# ----------------------------------------------------------------- np.average
# avg = sum(a W, axis) / S with W = spread_weights(weights, a, axis) (a's shape; ones for
# None) and S = sum(W, axis): d avg / d a = W / S, d avg / d W = (a - avg) / S.
defvjp(np.average,
       lambda g, ans, a, axis=None, weights=None, returned=False: unreduce(g, a, axis) * spread_weights(weights, a, axis) / np.sum(spread_weights(weights, a, axis), axis=axis, keepdims=True),
       None,
       lambda g, ans, a, axis=None, weights=None, returned=False: unspread_weights(unreduce(g, a, axis) * (a - unreduce(ans, a, axis)) / np.sum(spread_weights(weights, a, axis), axis=axis, keepdims=True), weights, a, axis),
       None)
defjvp(np.average,
       lambda t, ans, a, axis=None, weights=None, returned=False: np.average(t, axis, weights),
       None,
       lambda t, ans, a, axis=None, weights=None, returned=False: np.sum(spread_weights(t, a, axis) * (a - unreduce(ans, a, axis)), axis=axis) / np.sum(spread_weights(weights, a, axis), axis=axis),
       None)
declare(np.average, fresh=True,
        refuses=lambda a, axis=None, weights=None, returned=False: None if returned is False else
        "returned=True (the sum of the weights as a second result) is not supported; "
        "compute np.sum(weights) separately")

# spread_weights is linear in the weights; unspread_weights is its adjoint.
defvjp(spread_weights, lambda g, ans, weights, a, axis=None: unspread_weights(g, weights, a, axis), ZERO)
defjvp(spread_weights, lambda t, ans, weights, a, axis=None: spread_weights(t, a, axis), ZERO)
defvjp(unspread_weights, lambda g, ans, grad, weights, a, axis=None: spread_weights(g, a, axis), ZERO, ZERO)
defjvp(unspread_weights, lambda t, ans, grad, weights, a, axis=None: unspread_weights(t, weights, a, axis), ZERO, ZERO)

# ----------------------------------------------------------------- np.pad (constant mode)
# The padded array copies ``array`` inside a border filled with the scalar
# constant_values: array's cotangent is g without the border (unpad), constant_values'
# the sum of g over the border (pad_mask is 1 there).  Other modes are refused.
defvjp(np.pad,
       lambda g, ans, array, pad_width, mode="constant", *, constant_values=0: unpad(g, array, pad_width),
       None, None,
       lambda g, ans, array, pad_width, mode="constant", *, constant_values=0: np.sum(g * pad_mask(array, pad_width)))
defjvp(np.pad,
       lambda t, ans, array, pad_width, mode="constant", *, constant_values=0: np.pad(t, pad_width),
       None, None,
       lambda t, ans, array, pad_width, mode="constant", *, constant_values=0: t * pad_mask(array, pad_width))
declare(np.pad, fresh=True,
        refuses=lambda array, pad_width, mode="constant", *, constant_values=0: None if mode == "constant" else
        "only mode='constant' is differentiated " + (f"(mode={mode!r} is not)" if isinstance(mode, str) else
                                                     "(write mode as a constant string)") +
        "; pad with a constant, or build the border from slices with np.concatenate")

# unpad is linear in g; np.pad (zero border) is its adjoint.  pad_mask depends on shapes only.
defvjp(unpad, lambda g, ans, grad, array, pad_width: np.pad(g, pad_width), ZERO)
defjvp(unpad, lambda t, ans, grad, array, pad_width: unpad(t, array, pad_width), ZERO)
defnondiff(pad_mask)
declare(unpad, fresh=True)

# ----------------------------------------------------------------- np.select
# Each entry is the choice whose condition is the first to hold, else the default: the
# cotangent goes to that choice (select_grads, a tuple, one per choice) or to the default
# (select_rest is 1 where no condition holds).  Conditions carry no derivative.
defvjp(np.select,
       None,
       lambda g, ans, condlist, choicelist, default=0: select_grads(g, condlist, choicelist),
       lambda g, ans, condlist, choicelist, default=0: unbroadcast(g * select_rest(condlist), default),
       seq_params=(0, 1))
defjvp(np.select,
       None,
       lambda t, ans, condlist, choicelist, default=0: broadcast_like(np.select(condlist, t, 0.0), ans),
       lambda t, ans, condlist, choicelist, default=0: broadcast_like(t * select_rest(condlist), ans))
declare(np.select, fresh=True)

# select_grads is linear in g; its adjoint gathers the choices' cotangents back with np.select.
defvjp(select_grads,
       lambda g, ans, grad, condlist, choicelist: broadcast_like(np.select(condlist, g, 0.0), grad),
       None, ZERO, seq_params=(1, 2))
defjvp(select_grads,
       lambda t, ans, grad, condlist, choicelist: select_grads(t, condlist, choicelist),
       None, ZERO)
declare(select_grads, arity=lambda grad, condlist, choicelist: len(choicelist))
defnondiff(select_rest)

# ----------------------------------------------------------------- np.interp
# y = fp[i] (1 - s) + fp[i+1] s on x's segment: dy/dx is the segment's slope (0 beyond the
# ends; the right-hand segment at a knot), y is linear in fp (uninterp / interp_linear are
# that map's adjoint and itself) and takes left / right beyond the ends (interp_beyond).
# Moving the knots xp moves the graph: dy/dxp_i = -slope (1 - s), dy/dxp_(i+1) = -slope s
# inside [xp[0], xp[-1]] (the fp weights, ends given as 0).  period is not supported (left
# out of the signature).  The helpers below have forward rules in xp (with h = xp[i+1] -
# xp[i]: ds = -L(dxp) / h, dh = h S(dxp), L the interpolation with zero ends and S the
# slope map); their reverse rules in xp are the adjoints of those.
defvjp(np.interp,
       lambda g, ans, x, xp, fp, left=None, right=None: g * interp_slope(x, xp, fp),
       lambda g, ans, x, xp, fp, left=None, right=None: uninterp(-g * interp_slope(x, xp, fp), x, xp, 0.0, 0.0, fp),
       lambda g, ans, x, xp, fp, left=None, right=None: uninterp(g, x, xp, left, right, fp),
       lambda g, ans, x, xp, fp, left=None, right=None: np.sum(g * interp_beyond(x, xp, 0)),
       lambda g, ans, x, xp, fp, left=None, right=None: np.sum(g * interp_beyond(x, xp, 1)))
defjvp(np.interp,
       lambda t, ans, x, xp, fp, left=None, right=None: t * interp_slope(x, xp, fp),
       lambda t, ans, x, xp, fp, left=None, right=None: -interp_slope(x, xp, fp) * interp_linear(x, xp, t, 0.0, 0.0),
       lambda t, ans, x, xp, fp, left=None, right=None: interp_linear(x, xp, t, left, right),
       lambda t, ans, x, xp, fp, left=None, right=None: t * interp_beyond(x, xp, 0),
       lambda t, ans, x, xp, fp, left=None, right=None: t * interp_beyond(x, xp, 1))


def _interp_type(types, args, kwargs):
    """np.interp's result type: float64 values shaped like x (evaluating it on stand-ins
    of length 1 fails, as xp and fp of different lengths)."""
    x = types[0] if types else None
    if x is None or x.kind not in ("scalar", "array"):
        return None
    return dataclasses.replace(x, dtype="float64", layout="C")


declare(np.interp, fresh=True, abstract=_interp_type)

# The slope is piecewise constant in x and linear in fp (unslope is its adjoint there).
defvjp(interp_slope,
       lambda g, ans, x, xp, fp: zeros_like(x),
       lambda g, ans, x, xp, fp: unslope(-g * interp_slope(x, xp, fp), x, xp, fp),
       lambda g, ans, x, xp, fp: unslope(g, x, xp, fp))
defjvp(interp_slope,
       lambda t, ans, x, xp, fp: zeros_like(ans),
       lambda t, ans, x, xp, fp: -interp_slope(x, xp, fp) * interp_slope(x, xp, t),
       lambda t, ans, x, xp, fp: interp_slope(x, xp, t))
defvjp(unslope,
       lambda g, ans, grad, x, xp, fp: interp_slope(x, xp, g),
       lambda g, ans, grad, x, xp, fp: zeros_like(x),
       lambda g, ans, grad, x, xp, fp: unslope(-grad * interp_slope(x, xp, g), x, xp, fp),
       ZERO)
defjvp(unslope,
       lambda t, ans, grad, x, xp, fp: unslope(t, x, xp, fp),
       lambda t, ans, grad, x, xp, fp: zeros_like(ans),
       lambda t, ans, grad, x, xp, fp: unslope(-grad * interp_slope(x, xp, t), x, xp, fp),
       ZERO)
# uninterp and interp_linear: linear in g and values, each other's adjoint.  In x the
# weights (1 - s, s) change at the rate (-1/h, 1/h): the slope map and its adjoint unslope.
# Only whether left / right are None is read (ZERO).
defvjp(uninterp,
       lambda g, ans, grad, x, xp, left, right, fp: interp_linear(x, xp, g, left, right),
       lambda g, ans, grad, x, xp, left, right, fp: grad * interp_slope(x, xp, g),
       lambda g, ans, grad, x, xp, left, right, fp: uninterp(-grad * interp_slope(x, xp, g), x, xp, 0.0, 0.0, fp),
       ZERO, ZERO, ZERO)
defjvp(uninterp,
       lambda t, ans, grad, x, xp, left, right, fp: uninterp(t, x, xp, left, right, fp),
       lambda t, ans, grad, x, xp, left, right, fp: unslope(grad * t, x, xp, fp),
       lambda t, ans, grad, x, xp, left, right, fp: unslope(-grad * interp_linear(x, xp, t, 0.0, 0.0), x, xp, fp),
       ZERO, ZERO, ZERO)
defvjp(interp_linear,
       lambda g, ans, x, xp, values, left, right: g * interp_slope(x, xp, values),
       lambda g, ans, x, xp, values, left, right: uninterp(-g * interp_slope(x, xp, values), x, xp, 0.0, 0.0, values),
       lambda g, ans, x, xp, values, left, right: uninterp(g, x, xp, left, right, values),
       ZERO, ZERO)
defjvp(interp_linear,
       lambda t, ans, x, xp, values, left, right: t * interp_slope(x, xp, values),
       lambda t, ans, x, xp, values, left, right: -interp_slope(x, xp, values) * interp_linear(x, xp, t, 0.0, 0.0),
       lambda t, ans, x, xp, values, left, right: interp_linear(x, xp, t, left, right),
       ZERO, ZERO)
defnondiff(interp_beyond)

# ----------------------------------------------------------------- np.split, np.array_split
# The pieces partition ary along axis: the vjp concatenates their cotangents (g is the
# tuple of them), the jvp splits the tangent the same way.  How many pieces there are is
# read from the constant indices_or_sections when the function is transformed (the
# result is lowered as a tuple of that many arrays); a computed one is refused.
def _pieces(ary, indices_or_sections, axis=0):
    """The number of arrays np.split returns for the call's constant arguments."""
    sections = indices_or_sections
    items = sections if isinstance(sections, (list, tuple)) else [sections]
    if any(item is NOT_CONSTANT for item in items) or \
            not all(isinstance(item, (int, np.integer)) and not isinstance(item, bool) for item in items):
        raise ValueError("write indices_or_sections as a constant in the code (an int, or a list "
                         "or tuple of ints), not a computed value")
    return len(sections) + 1 if isinstance(sections, (list, tuple)) else int(sections)


for _fn in (np.split, np.array_split):
    defvjp(_fn, lambda g, ans, ary, indices_or_sections, axis=0: np.concatenate(g, axis=axis))
    defjvp(_fn, lambda t, ans, ary, indices_or_sections, axis=0: np.split(t, indices_or_sections, axis))
    declare(_fn, arity=_pieces)
defjvp(np.array_split, lambda t, ans, ary, indices_or_sections, axis=0: np.array_split(t, indices_or_sections, axis))
del _fn
