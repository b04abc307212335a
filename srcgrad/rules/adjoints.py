"""Rules for the runtime helpers that generated derivative code calls.

Why: ``grad(grad(f))``, ``hessian`` and ``hvp`` differentiate the generated adjoint, which
calls ``unbroadcast``, ``unreduce``, ``matmul_grad_a``... like any other function.  Most
helpers are linear in their first argument (a cotangent) and read the others only for
shapes (``ZERO``: no derivative flows there).  The product helpers are bilinear: for
``G_a(g, a, b) = d<g, B(a, b)>/da`` of a bilinear ``B``, ``<c, G_a(g, a, b)> = <g, B(c, b)>``,
which gives both of their rules without new helpers.

Parameters are named ``grad``/``like`` rather than the helpers' own ``g``/``x`` so that they
never collide with the rule's ``g, ans``; generated code calls helpers positionally.
"""



import numpy as np

from srcgrad.rules.registry import ZERO, declare, defjvp, defnondiff, defstructural, defvjp
from srcgrad.runtime import lists, tape
from srcgrad.runtime.lists import (add_concatenated, add_each, add_item, add_stacked,
                                   concatenate_items, item, stack_items, sum_items)
from srcgrad.runtime.broadcast import as_scalar, broadcast_like, unbroadcast, zeros_like
from srcgrad.runtime.numpy_helpers import (
    centered, clip_above, clip_below, clip_inside, diag_grad, dot_grad_a, dot_grad_b,
    extremum_mask, inner_grad_a, inner_grad_b, inverse_axes, matmul_grad_a, matmul_grad_b,
    mT, norm_direction, prod_others, prod_others_jvp, reduced_count, reshape_as, reverse_cumsum,
    two_norm_weight, log_or_zero, inverse_or_zero, trace_grad, transpose_back, unarray,
    unconcatenate, unreduce, unstack, winner_share,
)

# ----------------------------------------------------------------- shape helpers (linear)

defvjp(unbroadcast, lambda g, ans, grad, like: broadcast_like(g, grad), ZERO)
defjvp(unbroadcast, lambda t, ans, grad, like: unbroadcast(t, like), ZERO)

defvjp(broadcast_like, lambda g, ans, value, like: unbroadcast(g, value), ZERO)
defjvp(broadcast_like, lambda t, ans, value, like: broadcast_like(t, like), ZERO)

defvjp(unreduce,
       lambda g, ans, grad, like, axis=None, keepdims=False: reshape_as(np.sum(g, axis=axis, keepdims=keepdims), grad),
       ZERO)
defjvp(unreduce,
       lambda t, ans, grad, like, axis=None, keepdims=False: unreduce(t, like, axis, keepdims),
       ZERO)

defvjp(reshape_as, lambda g, ans, grad, like, order="C": reshape_as(g, grad, order), ZERO)
defjvp(reshape_as, lambda t, ans, grad, like, order="C": reshape_as(t, like, order), ZERO)

# linear; output k sums inputs k..end, so the adjoint sums outputs 0..k: a cumsum
defvjp(reverse_cumsum, lambda g, ans, grad, axis=None: reshape_as(np.cumsum(g, axis), grad))
defjvp(reverse_cumsum, lambda t, ans, grad, axis=None: reverse_cumsum(t, axis))

# linear in its cotangent; for a list of items the cotangent comes back as one per item
defvjp(unarray, lambda g, ans, grad, object: reshape_as(np.array(g), grad), ZERO)
defjvp(unarray, lambda t, ans, grad, object: unarray(t, object), ZERO)

defvjp(unstack, lambda g, ans, grad, arrays, axis=0: reshape_as(np.stack(g, axis), grad), ZERO)
defjvp(unstack, lambda t, ans, grad, arrays, axis=0: unstack(t, arrays, axis), ZERO)

defvjp(unconcatenate, lambda g, ans, grad, arrays, axis=0: reshape_as(np.concatenate(g, axis), grad), ZERO)
defjvp(unconcatenate, lambda t, ans, grad, arrays, axis=0: unconcatenate(t, arrays, axis), ZERO)

defvjp(log_or_zero, lambda g, ans, x: g * inverse_or_zero(x))
defjvp(log_or_zero, lambda t, ans, x: t * inverse_or_zero(x))

# prod_others' Jacobian is symmetric: one helper is both its jvp and its vjp
defvjp(prod_others, lambda g, ans, a, axis=None: prod_others_jvp(g, a, axis))
defjvp(prod_others, lambda t, ans, a, axis=None: prod_others_jvp(t, a, axis))

# the 2-norm's direction x / norm (ans is the norm); the 1-norm's sign(x) has derivative 0
defvjp(norm_direction,
       lambda g, ans, x, norm, ord=None, axis=None, keepdims=False: g / unreduce(norm, x, axis, keepdims) * two_norm_weight(x, ord, axis),
       lambda g, ans, x, norm, ord=None, axis=None, keepdims=False: -np.sum(g * x, axis=axis, keepdims=keepdims) / norm ** 2 * two_norm_weight(x, ord, axis))
defjvp(norm_direction,
       lambda t, ans, x, norm, ord=None, axis=None, keepdims=False: t / unreduce(norm, x, axis, keepdims) * two_norm_weight(x, ord, axis),
       lambda t, ans, x, norm, ord=None, axis=None, keepdims=False: -x * unreduce(t / norm ** 2, x, axis, keepdims) * two_norm_weight(x, ord, axis))

defvjp(transpose_back, lambda g, ans, grad, axes=None: np.transpose(g, axes))
defjvp(transpose_back, lambda t, ans, grad, axes=None: transpose_back(t, axes))

defvjp(mT, lambda g, ans, x: mT(g))
defjvp(mT, lambda t, ans, x: mT(t))

defvjp(as_scalar, lambda g, ans, v: reshape_as(g, v))
defjvp(as_scalar, lambda t, ans, v: as_scalar(t))

defvjp(tape.copy_value, lambda g, ans, value: g)
defjvp(tape.copy_value, lambda t, ans, value: tape.copy_value(t))

defvjp(centered, lambda g, ans, a, axis=None: centered(g, axis))
defjvp(centered, lambda t, ans, a, axis=None: centered(t, axis))

defvjp(trace_grad,
       lambda g, ans, grad, like, offset=0, axis1=0, axis2=1: as_scalar(np.trace(g, offset, axis1, axis2)),
       ZERO)
defjvp(trace_grad,
       lambda t, ans, grad, like, offset=0, axis1=0, axis2=1: trace_grad(t, like, offset, axis1, axis2),
       ZERO)

defvjp(diag_grad, lambda g, ans, grad, like, k=0: np.diag(g, k), ZERO)
defjvp(diag_grad, lambda t, ans, grad, like, k=0: diag_grad(t, like, k), ZERO)

# ----------------------------------------------------------------- product helpers (bilinear)

defvjp(dot_grad_a,
       lambda g, ans, grad, a, b: reshape_as(np.dot(g, b), grad),
       ZERO,
       lambda g, ans, grad, a, b: dot_grad_b(grad, g, b))
defjvp(dot_grad_a,
       lambda t, ans, grad, a, b: dot_grad_a(t, a, b),
       ZERO,
       lambda t, ans, grad, a, b: dot_grad_a(grad, a, t))

defvjp(dot_grad_b,
       lambda g, ans, grad, a, b: reshape_as(np.dot(a, g), grad),
       lambda g, ans, grad, a, b: dot_grad_a(grad, a, g),
       ZERO)
defjvp(dot_grad_b,
       lambda t, ans, grad, a, b: dot_grad_b(t, a, b),
       lambda t, ans, grad, a, b: dot_grad_b(grad, t, b),
       ZERO)

defvjp(matmul_grad_a,
       lambda g, ans, grad, a, b: reshape_as(g @ b, grad),
       ZERO,
       lambda g, ans, grad, a, b: matmul_grad_b(grad, g, b))
defjvp(matmul_grad_a,
       lambda t, ans, grad, a, b: matmul_grad_a(t, a, b),
       ZERO,
       lambda t, ans, grad, a, b: matmul_grad_a(grad, a, t))

defvjp(matmul_grad_b,
       lambda g, ans, grad, a, b: reshape_as(a @ g, grad),
       lambda g, ans, grad, a, b: matmul_grad_a(grad, a, g),
       ZERO)
defjvp(matmul_grad_b,
       lambda t, ans, grad, a, b: matmul_grad_b(t, a, b),
       lambda t, ans, grad, a, b: matmul_grad_b(grad, t, b),
       ZERO)

defvjp(inner_grad_a,
       lambda g, ans, grad, a, b: reshape_as(np.inner(g, b), grad),
       ZERO,
       lambda g, ans, grad, a, b: inner_grad_b(grad, g, b))
defjvp(inner_grad_a,
       lambda t, ans, grad, a, b: inner_grad_a(t, a, b),
       ZERO,
       lambda t, ans, grad, a, b: inner_grad_a(grad, a, t))

defvjp(inner_grad_b,
       lambda g, ans, grad, a, b: reshape_as(np.inner(a, g), grad),
       lambda g, ans, grad, a, b: inner_grad_a(grad, a, g),
       ZERO)
defjvp(inner_grad_b,
       lambda t, ans, grad, a, b: inner_grad_b(t, a, b),
       lambda t, ans, grad, a, b: inner_grad_b(grad, t, b),
       ZERO)

# scatter-add into an adjoint array (in place; the result is the array's new version)
defvjp(tape.add_at,
       lambda g, ans, target, index, value: g,
       ZERO,
       lambda g, ans, target, index, value: unbroadcast(g[index], value))
defjvp(tape.add_at,
       lambda t, ans, target, index, value: t,
       ZERO,
       lambda t, ans, target, index, value: tape.add_at(zeros_like(ans), index, t))

# ----------------------------------------------------------------- no derivative

# zeros, counts and the masks of piecewise-constant derivatives: zero almost everywhere
for _fn in (zeros_like, reduced_count, two_norm_weight, extremum_mask, winner_share, clip_inside, clip_below,
            clip_above, inverse_axes, tape.reversed_range,
            tape.hist_f64, tape.hist_f32, tape.hist_i64, tape.hist_bool, tape.stack):
    defnondiff(_fn)
for _suffix in tape.TAPE_TYPES:
    defnondiff(getattr(tape, f"stack_{_suffix}"))

# List operations: the reverse and forward passes handle these structurally (an append's
# adjoint pops the adjoint list, a pop's appends to it); the entries declare which
# arguments derivatives flow through.
defstructural(tape.list_append)
defstructural(tape.list_pop)
defstructural(tape.list_version, zero_args=(1,))



# ----------------------------------------------------------------- reads of run-time lists
# The vjp of a list argument adds into the list's adjoint and returns it (``into``); the
# jvp applies the same read to the tangent list.
defvjp(lists.item,
       lambda adjoint, g, ans, items, index: add_item(adjoint, index, g),
       None, into=(0,))
defjvp(lists.item,
       lambda t, ans, items, index: t[index],
       None)
defvjp(lists.stack_items,
       lambda adjoint, g, ans, items, axis=0: add_stacked(adjoint, g, axis),
       None, into=(0,))
defjvp(lists.stack_items,
       lambda t, ans, items, axis=0: stack_items(t, axis),
       None)
defvjp(lists.concatenate_items,
       lambda adjoint, g, ans, items, axis=0: add_concatenated(adjoint, items, g, axis),
       None, into=(0,))
defjvp(lists.concatenate_items,
       lambda t, ans, items, axis=0: concatenate_items(t, axis),
       None)
defvjp(lists.sum_items,
       lambda adjoint, g, ans, items: add_each(adjoint, g),
       into=(0,))
defjvp(lists.sum_items,
       lambda t, ans, items: sum_items(t))

# ----------------------------------------------------------------- facts the passes use
for _fn in (tape.hist_f64, tape.hist_f32, tape.hist_i64, tape.hist_bool, zeros_like):
    declare(_fn, allocator=True)
for _fn in [tape.stack] + [getattr(tape, f"stack_{s}") for s in tape.TAPE_TYPES]:
    declare(_fn, result_kind="list")
for _fn in (broadcast_like, reshape_as, unbroadcast):
    declare(_fn, view=True)
declare(zeros_like, shape_only=(0,))
declare(unbroadcast, shape_only=(1,))
declare(unreduce, shape_only=(1,))
declare(reshape_as, shape_only=(1,))
declare(reduced_count, shape_only=(0,))
del _fn
