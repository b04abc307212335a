"""Derivative rules for NumPy functions.

Conventions (see ``registry.py``): ``vjp_i(g, ans, *params)`` returns the cotangent of
parameter ``i`` with that parameter's shape (binary elementwise rules ``unbroadcast``);
``jvp_i(t, ans, *params)`` returns parameter ``i``'s contribution to the output tangent,
of the output's shape.  Each rule is a single-expression lambda on its own line: the code
generator inlines its body with the call's arguments substituted, keyword parameters such
as ``axis`` and ``keepdims`` as constants.

Signatures mirror NumPy's parameter names and positional order as far as srcgrad supports
them; parameters it does not support (``out=``, ``dtype=``, ``where=``, ``initial=``) are
left out so that a call using them fails to bind and is refused at transform time instead
of being differentiated wrongly.  Trailing options that NumPy allows positionally but
nobody passes that way (``keepdims``, ``ddof``) are keyword-only here for the same reason.

Ties: ``np.maximum``/``np.minimum`` split the cotangent evenly between tied operands;
``np.max``/``np.min`` (and ``amax``/``amin``) split it evenly among all tied maxima
(minima).  Rules use Python scalars (``2 * x``, ``math.log(2)``), never NumPy float64
scalars, so float32 inputs give float32 derivatives.
"""

import math

import numpy as np

from srcgrad.rules.registry import ZERO, declare, defjvp, defnondiff, defvjp
from srcgrad.runtime.lists import concatenate_items, stack_items
from srcgrad.runtime.broadcast import broadcast_like, unbroadcast
from srcgrad.runtime.numpy_helpers import (
    centered, clip_above, clip_below, clip_inside, diag_grad, dot_grad_a, dot_grad_b,
    extremum_mask, inner_grad_a, inner_grad_b, transpose_back, log_or_zero, matmul_grad_a,
    matmul_grad_b, prod_others, reduced_count, reshape_as, reverse_cumsum, trace_grad, unconcatenate,
    unarray, unreduce, unstack, winner_share, zeros_like,
)

# ----------------------------------------------------------------- elementwise, one argument

defvjp(np.sin, lambda g, ans, x: g * np.cos(x))
defjvp(np.sin, lambda t, ans, x: t * np.cos(x))

defvjp(np.cos, lambda g, ans, x: -g * np.sin(x))
defjvp(np.cos, lambda t, ans, x: -t * np.sin(x))

defvjp(np.tan, lambda g, ans, x: g * (1 + ans * ans))
defjvp(np.tan, lambda t, ans, x: t * (1 + ans * ans))

defvjp(np.arcsin, lambda g, ans, x: g / np.sqrt(1 - x * x))
defjvp(np.arcsin, lambda t, ans, x: t / np.sqrt(1 - x * x))

defvjp(np.arccos, lambda g, ans, x: -g / np.sqrt(1 - x * x))
defjvp(np.arccos, lambda t, ans, x: -t / np.sqrt(1 - x * x))

defvjp(np.arctan, lambda g, ans, x: g / (1 + x * x))
defjvp(np.arctan, lambda t, ans, x: t / (1 + x * x))

defvjp(np.sinh, lambda g, ans, x: g * np.cosh(x))
defjvp(np.sinh, lambda t, ans, x: t * np.cosh(x))

defvjp(np.cosh, lambda g, ans, x: g * np.sinh(x))
defjvp(np.cosh, lambda t, ans, x: t * np.sinh(x))

defvjp(np.tanh, lambda g, ans, x: g * (1 - ans * ans))
defjvp(np.tanh, lambda t, ans, x: t * (1 - ans * ans))

defvjp(np.exp, lambda g, ans, x: g * ans)
defjvp(np.exp, lambda t, ans, x: t * ans)

defvjp(np.expm1, lambda g, ans, x: g * (ans + 1))
defjvp(np.expm1, lambda t, ans, x: t * (ans + 1))

defvjp(np.log, lambda g, ans, x: g / x)
defjvp(np.log, lambda t, ans, x: t / x)

defvjp(np.log1p, lambda g, ans, x: g / (1 + x))
defjvp(np.log1p, lambda t, ans, x: t / (1 + x))

defvjp(np.log2, lambda g, ans, x: g / (x * math.log(2)))
defjvp(np.log2, lambda t, ans, x: t / (x * math.log(2)))

defvjp(np.log10, lambda g, ans, x: g / (x * math.log(10)))
defjvp(np.log10, lambda t, ans, x: t / (x * math.log(10)))

defvjp(np.sqrt, lambda g, ans, x: 0.5 * g / ans)
defjvp(np.sqrt, lambda t, ans, x: 0.5 * t / ans)

defvjp(np.square, lambda g, ans, x: g * 2 * x)
defjvp(np.square, lambda t, ans, x: t * 2 * x)

defvjp(np.reciprocal, lambda g, ans, x: -g * ans * ans)
defjvp(np.reciprocal, lambda t, ans, x: -t * ans * ans)

defvjp(np.negative, lambda g, ans, x: -g)
defjvp(np.negative, lambda t, ans, x: -t)

defvjp(np.positive, lambda g, ans, x: g)
defjvp(np.positive, lambda t, ans, x: t)

# np.abs is np.absolute.  Subgradient 0 at x == 0.
defvjp(np.absolute, lambda g, ans, x: g * np.sign(x))
defjvp(np.absolute, lambda t, ans, x: t * np.sign(x))

# Piecewise constant: a zero derivative (undefined at 0).
defvjp(np.sign, lambda g, ans, x: zeros_like(x))
defjvp(np.sign, lambda t, ans, x: zeros_like(ans))

# Real arguments only (a complex value meeting a derivative is refused at its line, see
# reverse.refuse_complex): the real part and the conjugate are the value, the imaginary part 0.
defvjp(np.real, lambda g, ans, val: g)
defjvp(np.real, lambda t, ans, val: t)

defvjp(np.conjugate, lambda g, ans, x: g)
defjvp(np.conjugate, lambda t, ans, x: t)

defvjp(np.imag, lambda g, ans, val: zeros_like(val))
defjvp(np.imag, lambda t, ans, val: zeros_like(ans))

# ----------------------------------------------------------------- elementwise, two arguments

defvjp(np.add,
       lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(g, y))
defjvp(np.add,
       lambda t, ans, x, y: broadcast_like(t, ans),
       lambda t, ans, x, y: broadcast_like(t, ans))

defvjp(np.subtract,
       lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(-g, y))
defjvp(np.subtract,
       lambda t, ans, x, y: broadcast_like(t, ans),
       lambda t, ans, x, y: broadcast_like(-t, ans))

defvjp(np.multiply,
       lambda g, ans, x, y: unbroadcast(g * y, x),
       lambda g, ans, x, y: unbroadcast(g * x, y))
defjvp(np.multiply,
       lambda t, ans, x, y: t * y,
       lambda t, ans, x, y: x * t)

# np.true_divide is np.divide.
defvjp(np.divide,
       lambda g, ans, x, y: unbroadcast(g / y, x),
       lambda g, ans, x, y: unbroadcast(-g * ans / y, y))
defjvp(np.divide,
       lambda t, ans, x, y: t / y,
       lambda t, ans, x, y: -t * ans / y)

# d(x**y)/dy = x**y * log(x); log_or_zero gives the limit 0 at x == 0.
defvjp(np.power,
       lambda g, ans, x, y: unbroadcast(g * y * x ** (y - 1), x),
       lambda g, ans, x, y: unbroadcast(g * ans * log_or_zero(x), y))
defjvp(np.power,
       lambda t, ans, x, y: t * y * x ** (y - 1),
       lambda t, ans, x, y: t * ans * log_or_zero(x))

# arctan2(y, x) is the angle of the point (x, y).
defvjp(np.arctan2,
       lambda g, ans, y, x: unbroadcast(g * x / (x * x + y * y), y),
       lambda g, ans, y, x: unbroadcast(-g * y / (x * x + y * y), x))
defjvp(np.arctan2,
       lambda t, ans, y, x: t * x / (x * x + y * y),
       lambda t, ans, y, x: -t * y / (x * x + y * y))

defvjp(np.hypot,
       lambda g, ans, x, y: unbroadcast(g * x / ans, x),
       lambda g, ans, x, y: unbroadcast(g * y / ans, y))
defjvp(np.hypot,
       lambda t, ans, x, y: t * x / ans,
       lambda t, ans, x, y: t * y / ans)

# log(exp(x) + exp(y)): the weights exp(x - ans) and exp(y - ans) sum to one and never
# overflow, since ans >= max(x, y).
defvjp(np.logaddexp,
       lambda g, ans, x, y: unbroadcast(g * np.exp(x - ans), x),
       lambda g, ans, x, y: unbroadcast(g * np.exp(y - ans), y))
defjvp(np.logaddexp,
       lambda t, ans, x, y: t * np.exp(x - ans),
       lambda t, ans, x, y: t * np.exp(y - ans))

# Ties split the cotangent evenly between x and y.
defvjp(np.maximum,
       lambda g, ans, x, y: unbroadcast(g * winner_share(x, y, ans), x),
       lambda g, ans, x, y: unbroadcast(g * winner_share(y, x, ans), y))
defjvp(np.maximum,
       lambda t, ans, x, y: t * winner_share(x, y, ans),
       lambda t, ans, x, y: t * winner_share(y, x, ans))

defvjp(np.minimum,
       lambda g, ans, x, y: unbroadcast(g * winner_share(x, y, ans), x),
       lambda g, ans, x, y: unbroadcast(g * winner_share(y, x, ans), y))
defjvp(np.minimum,
       lambda t, ans, x, y: t * winner_share(x, y, ans),
       lambda t, ans, x, y: t * winner_share(y, x, ans))

# ----------------------------------------------------------------- selection

# The condition carries no derivative.
defvjp(np.where,
       None,
       lambda g, ans, condition, x, y: unbroadcast(np.where(condition, g, 0), x),
       lambda g, ans, condition, x, y: unbroadcast(np.where(condition, 0, g), y))
defjvp(np.where,
       None,
       lambda t, ans, condition, x, y: np.where(condition, t, zeros_like(ans)),
       lambda t, ans, condition, x, y: np.where(condition, zeros_like(ans), t))

# Entries equal to a bound pass through (derivative 1 for a); a_min/a_max may be None.
defvjp(np.clip,
       lambda g, ans, a, a_min, a_max: unbroadcast(g * clip_inside(a, a_min, a_max), a),
       lambda g, ans, a, a_min, a_max: unbroadcast(g * clip_below(a, a_min, a_max), a_min),
       lambda g, ans, a, a_min, a_max: unbroadcast(g * clip_above(a, a_min, a_max), a_max))
defjvp(np.clip,
       lambda t, ans, a, a_min, a_max: t * clip_inside(a, a_min, a_max),
       lambda t, ans, a, a_min, a_max: t * clip_below(a, a_min, a_max),
       lambda t, ans, a, a_min, a_max: t * clip_above(a, a_min, a_max))

# ----------------------------------------------------------------- reductions

defvjp(np.sum,
       lambda g, ans, a, axis=None, *, keepdims=False: unreduce(g, a, axis, keepdims))
defjvp(np.sum,
       lambda t, ans, a, axis=None, *, keepdims=False: np.sum(t, axis=axis, keepdims=keepdims))

defvjp(np.mean,
       lambda g, ans, a, axis=None, *, keepdims=False: unreduce(g, a, axis, keepdims) / reduced_count(a, axis))
defjvp(np.mean,
       lambda t, ans, a, axis=None, *, keepdims=False: np.mean(t, axis=axis, keepdims=keepdims))

# prod_others(a, axis) is d prod / d a_i, exact even where entries are zero.
defvjp(np.prod,
       lambda g, ans, a, axis=None, *, keepdims=False: unreduce(g, a, axis, keepdims) * prod_others(a, axis))
defjvp(np.prod,
       lambda t, ans, a, axis=None, *, keepdims=False: np.sum(t * prod_others(a, axis), axis=axis, keepdims=keepdims))

# Ties: the cotangent is split evenly among all entries equal to the max (min).
for _fn in (np.max, np.amax, np.min, np.amin):
    defvjp(_fn,
           lambda g, ans, a, axis=None, *, keepdims=False: unreduce(g, a, axis, keepdims) * extremum_mask(a, ans, axis, keepdims))
    defjvp(_fn,
           lambda t, ans, a, axis=None, *, keepdims=False: np.sum(t * extremum_mask(a, ans, axis, keepdims), axis=axis, keepdims=keepdims))
del _fn

defvjp(np.var,
       lambda g, ans, a, axis=None, *, ddof=0, keepdims=False: unreduce(g, a, axis, keepdims) * centered(a, axis) * (2 / (reduced_count(a, axis) - ddof)))
defjvp(np.var,
       lambda t, ans, a, axis=None, *, ddof=0, keepdims=False: np.sum(t * centered(a, axis), axis=axis, keepdims=keepdims) * (2 / (reduced_count(a, axis) - ddof)))

defvjp(np.std,
       lambda g, ans, a, axis=None, *, ddof=0, keepdims=False: unreduce(g / ans, a, axis, keepdims) * centered(a, axis) / (reduced_count(a, axis) - ddof))
defjvp(np.std,
       lambda t, ans, a, axis=None, *, ddof=0, keepdims=False: np.sum(t * centered(a, axis), axis=axis, keepdims=keepdims) / (ans * (reduced_count(a, axis) - ddof)))

# With axis=None cumsum flattens: g is 1-d and is reshaped back at the end.
defvjp(np.cumsum,
       lambda g, ans, a, axis=None: reshape_as(reverse_cumsum(g, axis), a))
defjvp(np.cumsum,
       lambda t, ans, a, axis=None: np.cumsum(t, axis))

# ----------------------------------------------------------------- products

defvjp(np.dot,
       lambda g, ans, a, b: dot_grad_a(g, a, b),
       lambda g, ans, a, b: dot_grad_b(g, a, b))
defjvp(np.dot,
       lambda t, ans, a, b: np.dot(t, b),
       lambda t, ans, a, b: np.dot(a, t))

defvjp(np.matmul,
       lambda g, ans, a, b: matmul_grad_a(g, a, b),
       lambda g, ans, a, b: matmul_grad_b(g, a, b))
defjvp(np.matmul,
       lambda t, ans, a, b: np.matmul(t, b),
       lambda t, ans, a, b: np.matmul(a, t))

# np.outer flattens its inputs.
defvjp(np.outer,
       lambda g, ans, a, b: reshape_as(g @ np.ravel(b), a),
       lambda g, ans, a, b: reshape_as(np.ravel(a) @ g, b))
defjvp(np.outer,
       lambda t, ans, a, b: np.outer(t, b),
       lambda t, ans, a, b: np.outer(a, t))

defvjp(np.inner,
       lambda g, ans, a, b: inner_grad_a(g, a, b),
       lambda g, ans, a, b: inner_grad_b(g, a, b))
defjvp(np.inner,
       lambda t, ans, a, b: np.inner(t, b),
       lambda t, ans, a, b: np.inner(a, t))

defvjp(np.trace,
       lambda g, ans, a, offset=0, axis1=0, axis2=1: trace_grad(g, a, offset, axis1, axis2))
defjvp(np.trace,
       lambda t, ans, a, offset=0, axis1=0, axis2=1: np.trace(t, offset, axis1, axis2))

defvjp(np.diag, lambda g, ans, v, k=0: diag_grad(g, v, k))
defjvp(np.diag, lambda t, ans, v, k=0: np.diag(t, k))

# ----------------------------------------------------------------- shape manipulation

defvjp(np.transpose,
       lambda g, ans, a, axes=None: transpose_back(g, axes))
defjvp(np.transpose,
       lambda t, ans, a, axes=None: np.transpose(t, axes))

defvjp(np.reshape,
       lambda g, ans, a, shape, order="C": reshape_as(g, a, order))
defjvp(np.reshape,
       lambda t, ans, a, shape, order="C": reshape_as(t, ans, order))

defvjp(np.ravel, lambda g, ans, a, order="C": reshape_as(g, a, order))
defjvp(np.ravel, lambda t, ans, a, order="C": reshape_as(t, ans, order))

defvjp(np.squeeze, lambda g, ans, a, axis=None: reshape_as(g, a))
defjvp(np.squeeze, lambda t, ans, a, axis=None: np.squeeze(t, axis))

defvjp(np.expand_dims, lambda g, ans, a, axis: reshape_as(g, a))
defjvp(np.expand_dims, lambda t, ans, a, axis: np.expand_dims(t, axis))

defvjp(np.copy, lambda g, ans, a, order="K": reshape_as(g, a))
defjvp(np.copy, lambda t, ans, a, order="K": np.copy(t))

defvjp(np.ascontiguousarray, lambda g, ans, a: reshape_as(g, a))
defjvp(np.ascontiguousarray, lambda t, ans, a: np.ascontiguousarray(t))

# Sequence parameters: the vjp returns one cotangent per array, the jvp receives a tuple
# of tangents (zeros for inactive arrays).
defvjp(np.concatenate,
       lambda g, ans, arrays, axis=0: unconcatenate(g, arrays, axis),
       seq_params=(0,))
defjvp(np.concatenate,
       lambda t, ans, arrays, axis=0: np.concatenate(t, axis=axis))

defvjp(np.stack,
       lambda g, ans, arrays, axis=0: unstack(g, arrays, axis),
       seq_params=(0,))
defjvp(np.stack,
       lambda t, ans, arrays, axis=0: np.stack(t, axis=axis))

# np.array takes either a sequence of scalars/arrays (stacked) or one array (copied)
defvjp(np.array,
       lambda g, ans, object, dtype=None: unarray(g, object),
       seq_params=(0,))
defjvp(np.array,
       lambda t, ans, object, dtype=None: np.array(t, dtype=dtype))

# ----------------------------------------------------------------- constructors

# The fill value is broadcast to every entry: its cotangent sums them.  The shape has no
# derivative; the array whose shape full_like copies is read for its shape only.
defvjp(np.full,
       None,
       lambda g, ans, shape, fill_value, dtype=None: unbroadcast(g, fill_value))
defjvp(np.full,
       None,
       lambda t, ans, shape, fill_value, dtype=None: broadcast_like(t, ans))

defvjp(np.full_like,
       ZERO,
       lambda g, ans, a, fill_value, dtype=None: unbroadcast(g, fill_value))
defjvp(np.full_like,
       ZERO,
       lambda t, ans, a, fill_value, dtype=None: broadcast_like(t, ans))

# ----------------------------------------------------------------- no derivative

for _fn in (
    # constructors
    np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like, np.arange,
    np.linspace, np.eye, np.identity,
    # shapes
    np.shape, np.ndim, np.size,
    # integer / boolean results
    np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero, np.searchsorted,
    np.isnan, np.isinf, np.isfinite, np.signbit, np.any, np.all,
    np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    # piecewise constant
    np.floor, np.ceil, np.trunc, np.rint, np.round, np.around, np.fix, np.floor_divide,
):
    defnondiff(_fn)

# ----------------------------------------------------------------- facts the passes use
# (ufuncs are elementwise with a fresh result without saying so)
for _fn in (np.sum, np.mean, np.prod, np.max, np.min, np.var, np.std):
    declare(_fn, reduction=True, fresh=True)
for _fn in (np.all, np.any):
    declare(_fn, reduction=True, result_kind="bool")
for _fn in (np.where, np.clip):
    declare(_fn, elementwise=True, fresh=True)
declare(np.copy, elementwise=True, allocator=True)
for _fn in (np.zeros, np.empty, np.zeros_like, np.empty_like, np.ones, np.ones_like, np.full,
            np.full_like, np.array, np.arange, np.linspace, np.eye, np.identity):
    declare(_fn, allocator=True)
for _fn in (np.dot, np.outer, np.cumsum, np.cumprod, np.diff):
    declare(_fn, fresh=True)
declare(np.stack, fresh=True, list_form=stack_items)
declare(np.concatenate, fresh=True, list_form=concatenate_items)
declare(np.array, list_form=stack_items)
declare(np.asarray, view=True, list_form=stack_items)
for _fn in (np.reshape, np.ravel, np.transpose, np.expand_dims, np.ascontiguousarray):
    declare(_fn, view=True)
# which axes np.squeeze drops depends on their lengths, not only on the rank
declare(np.squeeze, view=True, abstract=lambda types, args, kwargs: None)
for _fn in (np.size, np.ndim):
    declare(_fn, result_kind="int", cheap=True)
declare(np.shape, cheap=True)          # reading a shape costs nothing, recomputed anywhere
for _fn in (np.absolute, np.real, np.imag):
    declare(_fn, result_kind="real")
for _fn in (np.zeros_like, np.ones_like, np.empty_like, np.round, np.around, np.rint,
            np.floor_divide):
    declare(_fn, keeps_complex=True)

del _fn
