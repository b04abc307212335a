"""Derivative rules for Python's operators, builtins and the ``math`` module.

The compiler lowers ``x + y`` to ``operator.add(x, y)``, ``-x`` to ``operator.neg(x)`` and
so on, so these rules cover Python arithmetic on floats *and* on NumPy arrays (binary rules
therefore ``unbroadcast``).  ``math`` functions only take scalars and their rules use
``math`` too, which keeps scalar code scalar (and cheap under Numba).

Conventions (see ``registry.py``): ``vjp_i(g, ans, *params)`` returns the cotangent of
parameter ``i``; ``jvp_i(t, ans, *params)`` returns parameter ``i``'s contribution to the
output tangent, already of the output's shape.  Each rule is a single-expression lambda on
its own line, because the code generator inlines its body.
"""

import builtins
import math
import operator

import numpy as np

from srcgrad.rules.registry import declare, defjvp, defnondiff, defvjp
from srcgrad.runtime.broadcast import broadcast_like, unbroadcast
from srcgrad.runtime.numpy_helpers import (
    log_or_zero, matmul_grad_a, matmul_grad_b, prod_others, unstack, winner_share, zeros_like,
)

# ----------------------------------------------------------------- operator: arithmetic

defvjp(operator.add,
       lambda g, ans, a, b: unbroadcast(g, a),
       lambda g, ans, a, b: unbroadcast(g, b),
       name="operator.add")
defjvp(operator.add,
       lambda t, ans, a, b: broadcast_like(t, ans),
       lambda t, ans, a, b: broadcast_like(t, ans))

defvjp(operator.sub,
       lambda g, ans, a, b: unbroadcast(g, a),
       lambda g, ans, a, b: unbroadcast(-g, b),
       name="operator.sub")
defjvp(operator.sub,
       lambda t, ans, a, b: broadcast_like(t, ans),
       lambda t, ans, a, b: broadcast_like(-t, ans))

defvjp(operator.mul,
       lambda g, ans, a, b: unbroadcast(g * b, a),
       lambda g, ans, a, b: unbroadcast(g * a, b),
       name="operator.mul")
defjvp(operator.mul,
       lambda t, ans, a, b: t * b,
       lambda t, ans, a, b: a * t)

defvjp(operator.truediv,
       lambda g, ans, a, b: unbroadcast(g / b, a),
       lambda g, ans, a, b: unbroadcast(-g * ans / b, b),
       name="operator.truediv")
defjvp(operator.truediv,
       lambda t, ans, a, b: t / b,
       lambda t, ans, a, b: -t * ans / b)

# a // b is piecewise constant: zero derivative (undefined at the jumps).
defvjp(operator.floordiv,
       lambda g, ans, a, b: zeros_like(a),
       lambda g, ans, a, b: zeros_like(b),
       name="operator.floordiv")
defjvp(operator.floordiv,
       lambda t, ans, a, b: zeros_like(ans),
       lambda t, ans, a, b: zeros_like(ans))

# a % b == a - b * floor(a / b)
defvjp(operator.mod,
       lambda g, ans, a, b: unbroadcast(g, a),
       lambda g, ans, a, b: unbroadcast(-g * np.floor(a / b), b),
       name="operator.mod")
defjvp(operator.mod,
       lambda t, ans, a, b: broadcast_like(t, ans),
       lambda t, ans, a, b: -t * np.floor(a / b))

# d(a**b)/db = a**b * log(a); log_or_zero gives the limit 0 at a == 0.
defvjp(operator.pow,
       lambda g, ans, a, b: unbroadcast(g * b * a ** (b - 1), a),
       lambda g, ans, a, b: unbroadcast(g * ans * log_or_zero(a), b),
       name="operator.pow")
defjvp(operator.pow,
       lambda t, ans, a, b: t * b * a ** (b - 1),
       lambda t, ans, a, b: t * ans * log_or_zero(a))

defvjp(operator.matmul,
       lambda g, ans, a, b: matmul_grad_a(g, a, b),
       lambda g, ans, a, b: matmul_grad_b(g, a, b),
       name="operator.matmul")
defjvp(operator.matmul,
       lambda t, ans, a, b: t @ b,
       lambda t, ans, a, b: a @ t)

defvjp(operator.neg, lambda g, ans, a: -g, name="operator.neg")
defjvp(operator.neg, lambda t, ans, a: -t)

defvjp(operator.pos, lambda g, ans, a: g, name="operator.pos")
defjvp(operator.pos, lambda t, ans, a: t)

# ----------------------------------------------------------------- builtins

# Subgradient 0 at a == 0.
defvjp(builtins.abs, lambda g, ans, x: g * np.sign(x), name="abs")
defjvp(builtins.abs, lambda t, ans, x: t * np.sign(x))

defvjp(operator.abs, lambda g, ans, a: g * np.sign(a), name="operator.abs")
defjvp(operator.abs, lambda t, ans, a: t * np.sign(a))

# max(x, y) / min(x, y) with two arguments; at ties the cotangent is split evenly.
defvjp(builtins.max,
       lambda g, ans, x, y: g * winner_share(x, y, ans),
       lambda g, ans, x, y: g * winner_share(y, x, ans),
       name="max")
defjvp(builtins.max,
       lambda t, ans, x, y: t * winner_share(x, y, ans),
       lambda t, ans, x, y: t * winner_share(y, x, ans))

defvjp(builtins.min,
       lambda g, ans, x, y: g * winner_share(x, y, ans),
       lambda g, ans, x, y: g * winner_share(y, x, ans),
       name="min")
defjvp(builtins.min,
       lambda t, ans, x, y: t * winner_share(x, y, ans),
       lambda t, ans, x, y: t * winner_share(y, x, ans))

# pow(base, exp) with two arguments (three-argument pow is integer-only).
defvjp(builtins.pow,
       lambda g, ans, base, exp: unbroadcast(g * exp * base ** (exp - 1), base),
       lambda g, ans, base, exp: unbroadcast(g * ans * log_or_zero(base), exp),
       name="pow")
defjvp(builtins.pow,
       lambda t, ans, base, exp: t * exp * base ** (exp - 1),
       lambda t, ans, base, exp: t * ans * log_or_zero(base))

defvjp(builtins.float, lambda g, ans, x: g, name="float")
defjvp(builtins.float, lambda t, ans, x: float(t))

for _fn in (builtins.int, builtins.bool, builtins.len, builtins.range, builtins.round,
            builtins.isinstance):
    defnondiff(_fn, name=_fn.__name__)

# ----------------------------------------------------------------- operator: no derivative

for _fn in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne,
            operator.not_, operator.truth, operator.is_, operator.is_not, operator.contains,
            operator.and_, operator.or_):
    defnondiff(_fn, name=f"operator.{_fn.__name__}")

# ----------------------------------------------------------------- math

defvjp(math.sin, lambda g, ans, x: g * math.cos(x))
defjvp(math.sin, lambda t, ans, x: t * math.cos(x))

defvjp(math.cos, lambda g, ans, x: -g * math.sin(x))
defjvp(math.cos, lambda t, ans, x: -t * math.sin(x))

defvjp(math.tan, lambda g, ans, x: g * (1 + ans * ans))
defjvp(math.tan, lambda t, ans, x: t * (1 + ans * ans))

defvjp(math.exp, lambda g, ans, x: g * ans)
defjvp(math.exp, lambda t, ans, x: t * ans)

defvjp(math.expm1, lambda g, ans, x: g * (ans + 1))
defjvp(math.expm1, lambda t, ans, x: t * (ans + 1))

# One-argument math.log only; math.log(x, base) does not bind to this signature.
defvjp(math.log, lambda g, ans, x: g / x)
defjvp(math.log, lambda t, ans, x: t / x)

defvjp(math.log1p, lambda g, ans, x: g / (1 + x))
defjvp(math.log1p, lambda t, ans, x: t / (1 + x))

defvjp(math.sqrt, lambda g, ans, x: 0.5 * g / ans)
defjvp(math.sqrt, lambda t, ans, x: 0.5 * t / ans)

defvjp(math.tanh, lambda g, ans, x: g * (1 - ans * ans))
defjvp(math.tanh, lambda t, ans, x: t * (1 - ans * ans))

defvjp(math.sinh, lambda g, ans, x: g * math.cosh(x))
defjvp(math.sinh, lambda t, ans, x: t * math.cosh(x))

defvjp(math.cosh, lambda g, ans, x: g * math.sinh(x))
defjvp(math.cosh, lambda t, ans, x: t * math.sinh(x))

defvjp(math.asin, lambda g, ans, x: g / math.sqrt(1 - x * x))
defjvp(math.asin, lambda t, ans, x: t / math.sqrt(1 - x * x))

defvjp(math.acos, lambda g, ans, x: -g / math.sqrt(1 - x * x))
defjvp(math.acos, lambda t, ans, x: -t / math.sqrt(1 - x * x))

defvjp(math.atan, lambda g, ans, x: g / (1 + x * x))
defjvp(math.atan, lambda t, ans, x: t / (1 + x * x))

# atan2(y, x) is the angle of the point (x, y).
defvjp(math.atan2,
       lambda g, ans, y, x: g * x / (x * x + y * y),
       lambda g, ans, y, x: -g * y / (x * x + y * y))
defjvp(math.atan2,
       lambda t, ans, y, x: t * x / (x * x + y * y),
       lambda t, ans, y, x: -t * y / (x * x + y * y))

# Two-argument hypot only.
defvjp(math.hypot,
       lambda g, ans, x, y: g * x / ans,
       lambda g, ans, x, y: g * y / ans)
defjvp(math.hypot,
       lambda t, ans, x, y: t * x / ans,
       lambda t, ans, x, y: t * y / ans)

defvjp(math.pow,
       lambda g, ans, x, y: g * y * math.pow(x, y - 1),
       lambda g, ans, x, y: g * ans * log_or_zero(x))
defjvp(math.pow,
       lambda t, ans, x, y: t * y * math.pow(x, y - 1),
       lambda t, ans, x, y: t * ans * log_or_zero(x))

# Subgradient 0 at x == 0.
defvjp(math.fabs, lambda g, ans, x: g * np.sign(x))
defjvp(math.fabs, lambda t, ans, x: t * np.sign(x))

# d erf(x)/dx = 2/sqrt(pi) * exp(-x**2);  1.1283791670955126 == 2 / math.sqrt(math.pi)
defvjp(math.erf, lambda g, ans, x: g * 1.1283791670955126 * math.exp(-x * x))
defjvp(math.erf, lambda t, ans, x: t * 1.1283791670955126 * math.exp(-x * x))

for _fn in (math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite):
    defnondiff(_fn)
# piecewise constant, or of integers only: their results carry no derivative
for _fn in (math.isclose, math.nextafter, math.ulp, math.comb, math.perm, math.factorial,
            math.gcd, math.lcm, math.isqrt):
    defnondiff(_fn)

# sums and products of a sequence of numbers: item k gets g (times the other items)
defvjp(math.fsum, lambda g, ans, seq: unstack(g + np.zeros(len(seq)), seq), seq_params=(0,))
defjvp(math.fsum, lambda t, ans, seq: math.fsum(t))
defvjp(math.prod, lambda g, ans, iterable: unstack(g * prod_others(np.array(iterable)), iterable),
       seq_params=(0,))
defjvp(math.prod, lambda t, ans, iterable: np.sum(np.array(t) * prod_others(np.array(iterable))))
for _fn in (math.fsum, math.prod):
    declare(_fn, no_jit=f"Numba has no math.{_fn.__name__}")

# ----------------------------------------------------------------- facts the passes use
# Arithmetic: elementwise, a fresh result, cheaper to recompute than to record, and
# integers stay integers (except ``/`` and ``**``); constant operands fold at transform time.
for _fn in (operator.add, operator.sub, operator.mul, operator.floordiv, operator.mod,
            operator.neg, operator.pos):
    declare(_fn, elementwise=True, fresh=True, cheap=True, int_preserving=True, folds=True)
for _fn in (operator.truediv, operator.pow):
    declare(_fn, elementwise=True, fresh=True, cheap=True)
declare(operator.matmul, fresh=True)
declare(builtins.abs, elementwise=True, cheap=True, int_preserving=True, folds=True,
        result_kind="real")
declare(operator.abs, result_kind="real")
for _fn in (builtins.min, builtins.max):
    declare(_fn, cheap=True, int_preserving=True, folds=True)
declare(builtins.len, cheap=True, result_kind="int", folds=True)
for _fn in (builtins.int, builtins.round, math.floor, math.ceil):
    declare(_fn, result_kind="int")
for _fn in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne):
    declare(_fn, result_kind="bool", folds=True)
declare(operator.not_, result_kind="bool", folds=True)
declare(builtins.bool, result_kind="bool")
for _fn in (operator.and_, operator.or_):
    declare(_fn, folds=True)

del _fn
