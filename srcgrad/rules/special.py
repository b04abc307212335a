"""Derivative rules for special functions: ``scipy.special``, the special functions of
``math`` (lgamma, gamma, erfc...) and NumPy's remaining elementwise ufuncs.

Same conventions as ``srcgrad/rules/numpy.py``: one single-expression lambda per
argument, ``unbroadcast`` for binary NumPy/SciPy functions, Python scalars in rules so
float32 stays float32.  A rule may call another primitive (``digamma``'s rule calls
``polygamma``), which is how its own derivative is known.  Library functions Numba cannot
compile have Numba twins in ``srcgrad/runtime/special_helpers.py``, so every primitive
here runs under ``jit=True``.
"""

import math

import numpy as np
import scipy.special as sc
from scipy.special import digamma, expit, polygamma

from srcgrad.rules.registry import declare, defjvp, defvjp
from srcgrad.runtime.broadcast import broadcast_like, unbroadcast
from srcgrad.runtime.numpy_helpers import log_or_zero, unreduce, winner_share, zeros_like
from srcgrad.runtime.special_helpers import weights_or_one

# ================================================================= NumPy ufuncs

# ----------------------------------------------------------------- inverse hyperbolic
# (np.asinh, np.acosh, np.atanh are the same ufuncs)
defvjp(np.arcsinh, lambda g, ans, x: g / np.sqrt(x * x + 1))
defjvp(np.arcsinh, lambda t, ans, x: t / np.sqrt(x * x + 1))

defvjp(np.arccosh, lambda g, ans, x: g / np.sqrt(x * x - 1))
defjvp(np.arccosh, lambda t, ans, x: t / np.sqrt(x * x - 1))

defvjp(np.arctanh, lambda g, ans, x: g / (1 - x * x))
defjvp(np.arctanh, lambda t, ans, x: t / (1 - x * x))

# ----------------------------------------------------------------- powers of two, roots
# d 2**x / dx = 2**x log 2
defvjp(np.exp2, lambda g, ans, x: g * ans * math.log(2))
defjvp(np.exp2, lambda t, ans, x: t * ans * math.log(2))

# log2(2**x + 2**y): the weights 2**(x - ans) and 2**(y - ans) sum to one
defvjp(np.logaddexp2,
       lambda g, ans, x, y: unbroadcast(g * np.exp2(x - ans), x),
       lambda g, ans, x, y: unbroadcast(g * np.exp2(y - ans), y))
defjvp(np.logaddexp2,
       lambda t, ans, x, y: t * np.exp2(x - ans),
       lambda t, ans, x, y: t * np.exp2(y - ans))

# d x**(1/3) / dx = 1 / (3 x**(2/3)); infinite at 0
defvjp(np.cbrt, lambda g, ans, x: g / (3 * ans * ans))
defjvp(np.cbrt, lambda t, ans, x: t / (3 * ans * ans))

# x ** y computed in float64 (or complex128): the rules of np.power
defvjp(np.float_power,
       lambda g, ans, x, y: unbroadcast(g * y * np.float_power(x, y - 1), x),
       lambda g, ans, x, y: unbroadcast(g * ans * log_or_zero(x), y))
defjvp(np.float_power,
       lambda t, ans, x, y: t * y * np.float_power(x, y - 1),
       lambda t, ans, x, y: t * ans * log_or_zero(x))

# ----------------------------------------------------------------- angles (linear)
# np.radians is a separate ufunc computing np.deg2rad, np.degrees np.rad2deg
for _fn in (np.deg2rad, np.radians):
    defvjp(_fn, lambda g, ans, x: g * (math.pi / 180))
    defjvp(_fn, lambda t, ans, x: t * (math.pi / 180))
for _fn in (np.rad2deg, np.degrees):
    defvjp(_fn, lambda g, ans, x: g * (180 / math.pi))
    defjvp(_fn, lambda t, ans, x: t * (180 / math.pi))

# ----------------------------------------------------------------- signs and remainders
# |x| as a float; subgradient 0 at x == 0
defvjp(np.fabs, lambda g, ans, x: g * np.sign(x))
defjvp(np.fabs, lambda t, ans, x: t * np.sign(x))

# |x1| with the sign of x2: slope +1 where the signs agree, -1 where they differ (0 at
# x1 == 0); x2 only chooses a sign, a piecewise constant choice
defvjp(np.copysign,
       lambda g, ans, x1, x2: unbroadcast(g * np.sign(x1) * np.copysign(1, x2), x1),
       lambda g, ans, x1, x2: zeros_like(x2))
defjvp(np.copysign,
       lambda t, ans, x1, x2: t * np.sign(x1) * np.copysign(1, x2),
       lambda t, ans, x1, x2: zeros_like(ans))

# fmod(x1, x2) == x1 - x2 * trunc(x1 / x2) (C's remainder, the sign of x1)
defvjp(np.fmod,
       lambda g, ans, x1, x2: unbroadcast(g, x1),
       lambda g, ans, x1, x2: unbroadcast(-g * np.trunc(x1 / x2), x2))
defjvp(np.fmod,
       lambda t, ans, x1, x2: broadcast_like(t, ans),
       lambda t, ans, x1, x2: -t * np.trunc(x1 / x2))

# remainder(x1, x2) == x1 - x2 * floor(x1 / x2) (Python's %, the sign of x2); np.mod is
# the same ufunc, and x % y itself is operator.mod
defvjp(np.remainder,
       lambda g, ans, x1, x2: unbroadcast(g, x1),
       lambda g, ans, x1, x2: unbroadcast(-g * np.floor(x1 / x2), x2))
defjvp(np.remainder,
       lambda t, ans, x1, x2: broadcast_like(t, ans),
       lambda t, ans, x1, x2: -t * np.floor(x1 / x2))

# fmax/fmin ignore NaNs; otherwise np.maximum/np.minimum, ties split evenly
for _fn in (np.fmax, np.fmin):
    defvjp(_fn,
           lambda g, ans, x1, x2: unbroadcast(g * winner_share(x1, x2, ans), x1),
           lambda g, ans, x1, x2: unbroadcast(g * winner_share(x2, x1, ans), x2))
    defjvp(_fn,
           lambda t, ans, x1, x2: t * winner_share(x1, x2, ans),
           lambda t, ans, x1, x2: t * winner_share(x2, x1, ans))

# heaviside(x1, x2) is 0 below 0, 1 above and x2 at x1 == 0: piecewise constant in x1,
# slope 1 in x2 exactly where x1 == 0
defvjp(np.heaviside,
       lambda g, ans, x1, x2: zeros_like(x1),
       lambda g, ans, x1, x2: unbroadcast(g * (x1 == 0), x2))
defjvp(np.heaviside,
       lambda t, ans, x1, x2: zeros_like(ans),
       lambda t, ans, x1, x2: t * (x1 == 0))

# ================================================================= math

defvjp(math.asinh, lambda g, ans, x: g / math.sqrt(x * x + 1))
defjvp(math.asinh, lambda t, ans, x: t / math.sqrt(x * x + 1))

defvjp(math.acosh, lambda g, ans, x: g / math.sqrt(x * x - 1))
defjvp(math.acosh, lambda t, ans, x: t / math.sqrt(x * x - 1))

defvjp(math.atanh, lambda g, ans, x: g / (1 - x * x))
defjvp(math.atanh, lambda t, ans, x: t / (1 - x * x))

defvjp(math.log2, lambda g, ans, x: g / (x * math.log(2)))
defjvp(math.log2, lambda t, ans, x: t / (x * math.log(2)))

defvjp(math.log10, lambda g, ans, x: g / (x * math.log(10)))
defjvp(math.log10, lambda t, ans, x: t / (x * math.log(10)))

defvjp(math.exp2, lambda g, ans, x: g * ans * math.log(2))
defjvp(math.exp2, lambda t, ans, x: t * ans * math.log(2))

defvjp(math.cbrt, lambda g, ans, x: g / (3 * ans * ans))
defjvp(math.cbrt, lambda t, ans, x: t / (3 * ans * ans))

# d erfc(x)/dx = -2/sqrt(pi) * exp(-x**2);  1.1283791670955126 == 2 / math.sqrt(math.pi)
defvjp(math.erfc, lambda g, ans, x: -g * 1.1283791670955126 * math.exp(-x * x))
defjvp(math.erfc, lambda t, ans, x: -t * 1.1283791670955126 * math.exp(-x * x))

# d log|Gamma(x)| / dx = digamma(x);  d Gamma(x) / dx = Gamma(x) digamma(x)
defvjp(math.lgamma, lambda g, ans, x: g * digamma(x))
defjvp(math.lgamma, lambda t, ans, x: t * digamma(x))

defvjp(math.gamma, lambda g, ans, x: g * ans * digamma(x))
defjvp(math.gamma, lambda t, ans, x: t * ans * digamma(x))

defvjp(math.radians, lambda g, ans, x: g * (math.pi / 180))
defjvp(math.radians, lambda t, ans, x: t * (math.pi / 180))

defvjp(math.degrees, lambda g, ans, x: g * (180 / math.pi))
defjvp(math.degrees, lambda t, ans, x: t * (180 / math.pi))

# |x| with the sign of y: slope +-1 by whether the signs agree; 0 for y
defvjp(math.copysign,
       lambda g, ans, x, y: g * math.copysign(1.0, x) * math.copysign(1.0, y),
       lambda g, ans, x, y: zeros_like(y))
defjvp(math.copysign,
       lambda t, ans, x, y: t * math.copysign(1.0, x) * math.copysign(1.0, y),
       lambda t, ans, x, y: zeros_like(ans))

# fmod(x, y) == x - y * trunc(x / y)
defvjp(math.fmod,
       lambda g, ans, x, y: g,
       lambda g, ans, x, y: -g * math.trunc(x / y))
defjvp(math.fmod,
       lambda t, ans, x, y: t,
       lambda t, ans, x, y: -t * math.trunc(x / y))

# remainder(x, y) == x - n y with n the integer nearest x / y; (x - ans) / y is n up to
# rounding, so rounding it gives n exactly
defvjp(math.remainder,
       lambda g, ans, x, y: g,
       lambda g, ans, x, y: -g * math.floor((x - ans) / y + 0.5))
defjvp(math.remainder,
       lambda t, ans, x, y: t,
       lambda t, ans, x, y: -t * math.floor((x - ans) / y + 0.5))

# ldexp(x, i) == x * 2**i, exactly; the integer exponent has no derivative
defvjp(math.ldexp, lambda g, ans, x, i: math.ldexp(g, i), None)
defjvp(math.ldexp, lambda t, ans, x, i: math.ldexp(t, i), None)

# ================================================================= scipy.special

# ----------------------------------------------------------------- gamma family
# sc.psi is sc.digamma; polygamma(1, x) is the trigamma function
defvjp(sc.gammaln, lambda g, ans, x: g * digamma(x))
defjvp(sc.gammaln, lambda t, ans, x: t * digamma(x))

# real arguments only (x > 0); for them loggamma is gammaln
defvjp(sc.loggamma, lambda g, ans, x: g * digamma(x))
defjvp(sc.loggamma, lambda t, ans, x: t * digamma(x))

defvjp(sc.gamma, lambda g, ans, x: g * ans * digamma(x))
defjvp(sc.gamma, lambda t, ans, x: t * ans * digamma(x))

defvjp(sc.digamma, lambda g, ans, x: g * polygamma(1, x))
defjvp(sc.digamma, lambda t, ans, x: t * polygamma(1, x))

# the order n is an integer: only x has a derivative, the next order
defvjp(sc.polygamma, None, lambda g, ans, n, x: g * polygamma(n + 1, x))
defjvp(sc.polygamma, None, lambda t, ans, n, x: t * polygamma(n + 1, x))

# log B(a, b) = gammaln(a) + gammaln(b) - gammaln(a + b)
defvjp(sc.betaln,
       lambda g, ans, a, b: unbroadcast(g * (digamma(a) - digamma(a + b)), a),
       lambda g, ans, a, b: unbroadcast(g * (digamma(b) - digamma(a + b)), b))
defjvp(sc.betaln,
       lambda t, ans, a, b: t * (digamma(a) - digamma(a + b)),
       lambda t, ans, a, b: t * (digamma(b) - digamma(a + b)))

# ----------------------------------------------------------------- error functions
# erf' = 2/sqrt(pi) exp(-x**2); 1.1283791670955126 == 2 / sqrt(pi)
defvjp(sc.erf, lambda g, ans, x: g * 1.1283791670955126 * np.exp(-x * x))
defjvp(sc.erf, lambda t, ans, x: t * 1.1283791670955126 * np.exp(-x * x))

defvjp(sc.erfc, lambda g, ans, x: -g * 1.1283791670955126 * np.exp(-x * x))
defjvp(sc.erfc, lambda t, ans, x: -t * 1.1283791670955126 * np.exp(-x * x))

# inverse functions: 1 / erf'(ans) = sqrt(pi)/2 exp(ans**2); 0.886226925452758 == sqrt(pi)/2
defvjp(sc.erfinv, lambda g, ans, y: g * 0.886226925452758 * np.exp(ans * ans))
defjvp(sc.erfinv, lambda t, ans, y: t * 0.886226925452758 * np.exp(ans * ans))

defvjp(sc.erfcinv, lambda g, ans, y: -g * 0.886226925452758 * np.exp(ans * ans))
defjvp(sc.erfcinv, lambda t, ans, y: -t * 0.886226925452758 * np.exp(ans * ans))

# ----------------------------------------------------------------- logistic
# expit(x) = 1 / (1 + exp(-x)), expit' = expit (1 - expit)
defvjp(sc.expit, lambda g, ans, x: g * ans * (1 - ans))
defjvp(sc.expit, lambda t, ans, x: t * ans * (1 - ans))

# logit(p) = log(p / (1 - p)), its inverse: logit' = 1 / (p (1 - p))
defvjp(sc.logit, lambda g, ans, x: g / (x * (1 - x)))
defjvp(sc.logit, lambda t, ans, x: t / (x * (1 - x)))

# log_expit(x) = -log(1 + exp(-x)), log_expit' = 1 - expit(x) = expit(-x) (exact for large x)
defvjp(sc.log_expit, lambda g, ans, x: g * expit(-x))
defjvp(sc.log_expit, lambda t, ans, x: t * expit(-x))

# ----------------------------------------------------------------- entropies
# x log y (0 at x == 0)
defvjp(sc.xlogy,
       lambda g, ans, x, y: unbroadcast(g * np.log(y), x),
       lambda g, ans, x, y: unbroadcast(g * x / y, y))
defjvp(sc.xlogy,
       lambda t, ans, x, y: t * np.log(y),
       lambda t, ans, x, y: t * x / y)

# x log(1 + y) (0 at x == 0)
defvjp(sc.xlog1py,
       lambda g, ans, x, y: unbroadcast(g * np.log1p(y), x),
       lambda g, ans, x, y: unbroadcast(g * x / (1 + y), y))
defjvp(sc.xlog1py,
       lambda t, ans, x, y: t * np.log1p(y),
       lambda t, ans, x, y: t * x / (1 + y))

# -x log x for x > 0
defvjp(sc.entr, lambda g, ans, x: -g * (np.log(x) + 1))
defjvp(sc.entr, lambda t, ans, x: -t * (np.log(x) + 1))

# x log(x / y) for x, y > 0
defvjp(sc.rel_entr,
       lambda g, ans, x, y: unbroadcast(g * (np.log(x / y) + 1), x),
       lambda g, ans, x, y: unbroadcast(-g * x / y, y))
defjvp(sc.rel_entr,
       lambda t, ans, x, y: t * (np.log(x / y) + 1),
       lambda t, ans, x, y: -t * x / y)

# ----------------------------------------------------------------- softmax family
# logsumexp(a) = log sum b exp(a): d/da = b exp(a - ans) (the softmax weights), d/db =
# exp(a - ans); unreduce(ans, a, ...) spreads the result back over the reduced axes.  The
# weights b broadcast to a's shape; return_sign is not supported (a call using it is refused).
defvjp(sc.logsumexp,
       lambda g, ans, a, axis=None, b=None, keepdims=False: unreduce(g, a, axis, keepdims) * weights_or_one(b) * np.exp(a - unreduce(ans, a, axis, keepdims)),
       None,
       lambda g, ans, a, axis=None, b=None, keepdims=False: unbroadcast(unreduce(g, a, axis, keepdims) * np.exp(a - unreduce(ans, a, axis, keepdims)), b))
defjvp(sc.logsumexp,
       lambda t, ans, a, axis=None, b=None, keepdims=False: np.sum(t * weights_or_one(b) * np.exp(a - unreduce(ans, a, axis, keepdims)), axis=axis, keepdims=keepdims),
       None,
       lambda t, ans, a, axis=None, b=None, keepdims=False: np.sum(t * np.exp(a - unreduce(ans, a, axis, keepdims)), axis=axis, keepdims=keepdims))

# softmax s = exp(x - logsumexp(x)): J v = s * (v - sum(s * v)) over the axis (symmetric)
defvjp(sc.softmax,
       lambda g, ans, x, axis=None: ans * (g - unreduce(np.sum(g * ans, axis=axis), ans, axis)))
defjvp(sc.softmax,
       lambda t, ans, x, axis=None: ans * (t - unreduce(np.sum(t * ans, axis=axis), ans, axis)))

# log_softmax l = x - logsumexp(x): J v = v - sum(exp(l) * v), J^T g = g - exp(l) sum(g)
defvjp(sc.log_softmax,
       lambda g, ans, x, axis=None: g - np.exp(ans) * unreduce(np.sum(g, axis=axis), ans, axis))
defjvp(sc.log_softmax,
       lambda t, ans, x, axis=None: t - unreduce(np.sum(np.exp(ans) * t, axis=axis), ans, axis))

# the helper those rules call: the weights themselves, or the constant 1 (no derivative)
defvjp(weights_or_one, lambda g, ans, b: g)
defjvp(weights_or_one, lambda t, ans, b: t)

# ================================================================= facts the passes use
# SciPy's ufuncs name themselves without their module (digamma calls itself psi)
for _fn in (sc.gammaln, sc.loggamma, sc.gamma, sc.digamma, sc.polygamma, sc.betaln, sc.erf,
            sc.erfc, sc.erfinv, sc.erfcinv, sc.expit, sc.logit, sc.log_expit, sc.xlogy,
            sc.xlog1py, sc.entr, sc.rel_entr, sc.logsumexp, sc.softmax, sc.log_softmax):
    declare(_fn, name="scipy.special." + ("digamma" if _fn is sc.digamma else _fn.__name__))
declare(sc.logsumexp, reduction=True, fresh=True)
for _fn in (sc.softmax, sc.log_softmax):
    declare(_fn, fresh=True)

del _fn
