"""Runtime support for the special-function rules (``srcgrad/rules/special.py``): one small
helper the rules call, and the Numba twins of the library functions Numba cannot compile
itself (``scipy.special``'s ufuncs and functions, ``math.cbrt``, ``math.fmod``...).

A twin is recorded on the library function itself (``@numba_twin(scipy.special.expit)``),
so the generated code calls ``expit(x)`` with and without jit.  Each elementwise function
is a scalar *kernel* written here in plain Python over ``math``; its twin compiles the
kernel with ``numba.vectorize``, which handles scalars, arrays of any layout and
broadcasting alike.  Kernels follow the formulas SciPy uses (cephes and its own C++), so
the jit and plain values agree to a few units in the last place; those without a formula
in ``math`` (digamma, polygamma, erfinv, erfcinv) are computed here: asymptotic series
after a recurrence, Euler-Maclaurin for the Hurwitz zeta function, Newton's method on
``erf``/``erfc``.  ``tests/test_special_kernels.py`` checks every kernel against SciPy.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from srcgrad.runtime.twins import is_scalar, literal_axis, no_axis, numba, numba_twin, types

__all__ = ["weights_or_one"]


def weights_or_one(b):
    """``b``, or 1.0 when it is None: the weights of ``scipy.special.logsumexp(a, b=b)``.

    Why: the rule of ``logsumexp`` multiplies by the weights whether or not the call
    passed any; a rule is one expression, so the choice is made here.
    """
    return 1.0 if b is None else b


@numba_twin(weights_or_one)
def _weights_or_one(b):
    if no_axis(b):
        return lambda b: 1.0
    return lambda b: b


# --------------------------------------------------------------------------- kernels
_INV_SQRT_PI_2 = 2.0 / math.sqrt(math.pi)     # erf'(0)
_EPS = 2.0 ** -53


def _digamma(x):
    """psi(x) = d log Gamma(x) / dx: reflection for x < 0, the recurrence
    psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series."""
    if x <= 0.0 and x == math.floor(x):
        return -math.inf if x == 0.0 else math.nan
    result = 0.0
    if x < 0.0:                      # psi(x) = psi(1 - x) - pi / tan(pi x)
        result = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    z = 1.0 / (x * x)
    series = z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (
        1.0 / 132 - z * (691.0 / 32760 - z / 12))))))
    return result + math.log(x) - 0.5 / x - series


# Euler-Maclaurin coefficients (2k)! / B_2k (cephes zeta.c)
_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9,
           7.47242496e10, -2.950130727918164224e12, 1.1646782814350067249e14,
           -4.5979787224074726105e15, 1.8152105401943546773e17, -7.1661652561756670113e18)


def _hurwitz_zeta(s, q):
    """zeta(s, q) = sum over k >= 0 of (k + q) ** -s, for s > 1 (cephes' method: the first
    terms summed, the rest by Euler-Maclaurin)."""
    if s == 1.0:
        return math.inf
    if s < 1.0:
        return math.nan
    if q <= 0.0:
        if q == math.floor(q):
            return math.inf
        if s != math.floor(s):
            return math.nan
    if q > 1e8:
        return (1.0 / (s - 1.0) + 1.0 / (2.0 * q)) * q ** (1.0 - s)
    total = q ** -s
    a = q
    b = 0.0
    i = 0
    while i < 9 or a <= 9.0:
        i += 1
        a += 1.0
        b = a ** -s
        total += b
        if abs(b / total) < _EPS:
            return total
    w = a
    total += b * w / (s - 1.0)
    total -= 0.5 * b
    factor = 1.0
    k = 0.0
    for j in range(12):
        factor *= s + k
        b /= w
        term = factor * b / _ZETA_A[j]
        total += term
        if abs(term / total) < _EPS:
            break
        k += 1.0
        factor *= s + k
        b /= w
        k += 1.0
    return total


def _polygamma(n, x):
    """The n-th derivative of digamma: (-1) ** (n + 1) * n! * zeta(n + 1, x) for n >= 1."""
    if n == 0:
        return _digamma(x)
    sign = 1.0 if n % 2 == 1 else -1.0
    return sign * math.gamma(n + 1.0) * _hurwitz_zeta(n + 1.0, x)


def _inverse_erfc_tail(x):
    """The r > 0.47 with erfc(r) == x, for 0 < x <= 0.5: Newton's method on
    log erfc(r) = log x, from the asymptotic erfc(r) ~ exp(-r**2) / (r sqrt(pi))."""
    t = math.sqrt(-math.log(x))
    r = math.sqrt(max(-math.log(x * math.sqrt(math.pi) * t), 0.25))
    log_x = math.log(x)
    for _ in range(50):
        e = math.erfc(r)
        step = (math.log(e) - log_x) * e * math.exp(r * r) / _INV_SQRT_PI_2
        r += step
        if abs(step) <= 1e-16 * r:
            break
    return r


def _inverse_erf_center(x):
    """The r with erf(r) == x, for |x| <= 0.5: Newton's method from the Maclaurin series."""
    p = math.pi * x * x
    r = 0.5 * math.sqrt(math.pi) * x * (1.0 + p / 12.0 + 7.0 * p * p / 480.0)
    for _ in range(50):
        step = (math.erf(r) - x) / (_INV_SQRT_PI_2 * math.exp(-r * r))
        r -= step
        if abs(step) <= 1e-17 + 1e-16 * abs(r):
            break
    return r


def _erfinv(y):
    if not -1.0 <= y <= 1.0:
        return math.nan
    if y == 1.0 or y == -1.0:
        return math.copysign(math.inf, y)
    if abs(y) <= 0.5:
        return _inverse_erf_center(y)
    return math.copysign(_inverse_erfc_tail(1.0 - abs(y)), y)    # 1 - |y| is exact


def _erfcinv(y):
    if not 0.0 <= y <= 2.0:
        return math.nan
    if y == 0.0:
        return math.inf
    if y == 2.0:
        return -math.inf
    if y < 0.5:
        return _inverse_erfc_tail(y)
    if y > 1.5:
        return -_inverse_erfc_tail(2.0 - y)                        # exact
    return _inverse_erf_center(1.0 - y)                            # exact


def _expit(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0.0 else math.exp(x) / (1.0 + math.exp(x))


def _log_expit(x):
    return x - math.log1p(math.exp(x)) if x < 0.0 else -math.log1p(math.exp(-x))


def _logit(x):
    """log(x / (1 - x)); near 1/2 as log1p(s) - log1p(-s), s = 2x - 1 (SciPy's choice)."""
    if x < 0.3 or x > 0.65:
        return math.log(x / (1.0 - x))
    s = 2.0 * (x - 0.5)
    return math.log1p(s) - math.log1p(-s)


def _erf(x):
    return math.erf(x)


def _erfc(x):
    return math.erfc(x)


def _gamma(x):
    if x <= 0.0 and x == math.floor(x):
        return math.nan if x < 0.0 else math.copysign(math.inf, x)
    return math.gamma(x)


def _gammaln(x):
    if x <= 0.0 and x == math.floor(x):
        return math.inf
    return math.lgamma(x)


def _loggamma(x):
    """scipy.special.loggamma of a real number: log Gamma(x) for x > 0, NaN below."""
    if x < 0.0 or math.isnan(x):
        return math.nan
    return math.inf if x == 0.0 else math.lgamma(x)


def _lgam_large(x):
    """log Gamma(x) for x >= 13 by Stirling's series, as cephes evaluates it: betaln
    subtracts such values, so they must round like SciPy's to give its differences."""
    q = (x - 0.5) * math.log(x) - x + 0.91893853320467274178
    if x > 1.0e8:
        return q
    p = 1.0 / (x * x)
    if x >= 1000.0:
        return q + ((7.9365079365079365079365e-4 * p - 2.7777777777777777777778e-3) * p
                    + 0.0833333333333333333333) / x
    series = ((((8.11614167470508450300e-4 * p - 5.95061904284301438324e-4) * p
                + 7.93650340457716943945e-4) * p - 2.77777777730099687205e-3) * p
              + 8.33333333333331927722e-2)
    return q + series / x


def _lgam(x):
    return _lgam_large(x) if x >= 13.0 else math.lgamma(x)


def _betaln(a, b):
    """log |B(a, b)| as cephes computes it: an asymptotic form when one argument dwarfs
    the other, log Gamma differences for large arguments, Gamma itself otherwise."""
    if a < b:
        a, b = b, a
    if a > 1e6 * abs(b) and a > 1e6:            # b (1 - b) ... / a: cephes lbeta_asymp
        r = _lgam(b) - b * math.log(a)
        r += b * (1.0 - b) / (2.0 * a)
        r += b * (1.0 - b) * (1.0 - 2.0 * b) / (12.0 * a * a)
        r += -b * b * (1.0 - b) * (1.0 - b) / (12.0 * a * a * a)
        return r
    y = a + b
    if abs(y) > 171.6 or abs(a) > 171.6 or abs(b) > 171.6:
        return _lgam(a) + (_lgam(b) - _lgam(y))
    gy, ga, gb = math.gamma(y), math.gamma(a), math.gamma(b)
    if abs(abs(ga) - abs(gy)) > abs(abs(gb) - abs(gy)):
        value = gb / gy * ga
    else:
        value = ga / gy * gb
    return math.log(abs(value))


def _xlogy(x, y):
    return 0.0 if x == 0.0 and not math.isnan(y) else x * math.log(y)


def _xlog1py(x, y):
    return 0.0 if x == 0.0 and not math.isnan(y) else x * math.log1p(y)


def _entr(x):
    if math.isnan(x):
        return x
    if x > 0.0:
        return -x * math.log(x)
    return 0.0 if x == 0.0 else -math.inf


def _rel_entr(x, y):
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x > 0.0 and y > 0.0:
        return x * math.log(x / y)
    return 0.0 if x == 0.0 and y >= 0.0 else math.inf


def _heaviside(x, y):
    if math.isnan(x):
        return x
    if x == 0.0:
        return y
    return 1.0 if x > 0.0 else 0.0


def _cbrt(x):
    return np.cbrt(x)


def _fmod(x, y):
    return np.fmod(x, y)


def _ieee_remainder(x, y):
    """math.remainder: x - n * y with n the integer nearest x / y, ties to even (fdlibm's
    method: reduce modulo 2|y| exactly with fmod, then subtract |y| once or twice)."""
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or y == 0.0:
        return math.nan
    if math.isinf(y):
        return x
    p = abs(y)
    r = abs(np.fmod(x, p + p)) if p <= 8.9e307 else abs(x)
    if r == p:
        return 0.0 * x
    half = 0.5 * p
    if r > half:
        r -= p
        if r >= half:
            r -= p
    return math.copysign(1.0, x) * r


# --------------------------------------------------------------------------- twins
_VECTORIZED: dict = {}


def _vectorized(kernel):
    """``numba.vectorize(kernel)``, made once: a Numba ufunc that takes scalars and
    broadcasts arrays, compiling a loop per argument type when first used."""
    vec = _VECTORIZED.get(kernel)
    if vec is None:
        vec = _VECTORIZED[kernel] = numba.vectorize(kernel)
    return vec


def _elementwise_twin(fn, kernel, nargs):
    """Record the twin of the elementwise ``fn`` (``nargs`` operands): ``kernel``
    applied by ``numba.vectorize``."""
    if nargs == 1:
        def twin(x):
            vec = _vectorized(kernel)
            return lambda x: vec(x)
    else:
        def twin(x, y):
            vec = _vectorized(kernel)
            return lambda x, y: vec(x, y)
    numba_twin(fn)(twin)


for _fn, _kernel in ((sc.expit, _expit), (sc.log_expit, _log_expit), (sc.logit, _logit),
                     (sc.erf, _erf), (sc.erfc, _erfc), (sc.erfinv, _erfinv),
                     (sc.erfcinv, _erfcinv), (sc.gamma, _gamma), (sc.gammaln, _gammaln),
                     (sc.loggamma, _loggamma), (sc.digamma, _digamma), (sc.entr, _entr),
                     (math.cbrt, _cbrt)):
    _elementwise_twin(_fn, _kernel, 1)
for _fn, _kernel in ((sc.xlogy, _xlogy), (sc.xlog1py, _xlog1py), (sc.rel_entr, _rel_entr),
                     (sc.betaln, _betaln), (math.fmod, _fmod),
                     (math.remainder, _ieee_remainder), (np.heaviside, _heaviside)):
    _elementwise_twin(_fn, _kernel, 2)
del _fn, _kernel


# kernels that other kernels call: under Numba each is compiled as it is written
def _calls_itself(kernel):
    """Record ``kernel`` as its own twin (Numba wants the parameter names of the typing
    function, so these kernels take ``x``, or ``s, q``)."""
    if kernel.__code__.co_argcount == 1:
        def twin(x):
            return kernel
    else:
        def twin(s, q):
            return kernel
    numba_twin(kernel)(twin)


for _kernel in (_digamma, _lgam, _lgam_large, _inverse_erf_center, _inverse_erfc_tail,
                _hurwitz_zeta):
    _calls_itself(_kernel)
del _kernel


@numba_twin(sc.polygamma)
def _polygamma_twin(n, x):
    vec = _vectorized(_polygamma)
    return lambda n, x: vec(n, x)


# ---- logsumexp, softmax, log_softmax over all axes or one
def _lse_rows(a, b):
    """log(sum(b * exp(a))) of each row of the 2-d ``a`` (``b`` the same shape), shifted
    by the row's maximum so that nothing overflows."""
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        top = -math.inf
        for j in range(a.shape[1]):
            top = max(top, a[i, j])
        if not math.isfinite(top):
            top = 0.0
        total = 0.0
        for j in range(a.shape[1]):
            total += b[i, j] * math.exp(a[i, j] - top)
        out[i] = top + math.log(total)
    return out


def _literal_flag(value, default):
    """A bool known at compile time (a literal, an omitted default, a Python bool), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, types.Omitted):
        return bool(value.value)
    if isinstance(value, types.BooleanLiteral):
        return bool(value.literal_value)
    if isinstance(value, types.Boolean):
        return None
    return default if no_axis(value) else None


@numba_twin(sc.logsumexp, prefer_literal=True)
def _logsumexp(a, axis=None, b=None, keepdims=False):
    """Over all axes or one, whose number (and keepdims) must be known at compile time:
    Numba offers the literal types first (``prefer_literal``), so calls with constants
    compile; other calls find no implementation."""
    rows = numba.njit(_lse_rows)
    if is_scalar(a):
        if no_axis(b):
            return lambda a, axis=None, b=None, keepdims=False: a + 0.0
        return lambda a, axis=None, b=None, keepdims=False: a + math.log(b)
    if not isinstance(a, types.Array):
        return None
    keep = _literal_flag(keepdims, False)
    if keep is None:
        return None
    if not no_axis(b) and not (isinstance(b, types.Array) and b.ndim <= a.ndim) and not is_scalar(b):
        return None
    no_weights = no_axis(b)
    nd = a.ndim

    def weights(a, b):
        return np.ones(a.shape) if no_weights else np.broadcast_to(b, a.shape) * np.ones(a.shape)
    weights = numba.njit(weights)
    if no_axis(axis):
        ones = (1,) * nd

        def impl(a, axis=None, b=None, keepdims=False):
            flat = np.ascontiguousarray(a).reshape((1, a.size))
            value = rows(flat, np.ascontiguousarray(weights(a, b)).reshape((1, a.size)))[0]
            return np.full(ones, value) if keep else value
        return impl
    k = literal_axis(axis, nd)
    if k is None:
        return None
    perm = tuple(j for j in range(nd) if j != k) + (k,)       # axis k moved last
    back = tuple(perm.index(j) for j in range(nd))

    if nd == 1 and not keep:
        def impl_scalar(a, axis=None, b=None, keepdims=False):
            flat = np.ascontiguousarray(a).reshape((1, a.size))
            return rows(flat, np.ascontiguousarray(weights(a, b)).reshape((1, a.size)))[0]
        return impl_scalar

    def impl_axis(a, axis=None, b=None, keepdims=False):
        moved = np.ascontiguousarray(a.transpose(perm))
        n = moved.shape[-1]
        m = moved.size // n if n else 0
        w = np.ascontiguousarray(weights(a, b).transpose(perm))
        out = rows(moved.reshape((m, n)), w.reshape((m, n)))
        if keep:
            return np.ascontiguousarray(out.reshape(moved.shape[:-1] + (1,)).transpose(back))
        return out.reshape(moved.shape[:-1])
    return impl_axis


@numba_twin(sc.softmax)
def _softmax(x, axis=None):
    if is_scalar(x):
        return lambda x, axis=None: 1.0
    if not isinstance(x, types.Array):
        return None
    return lambda x, axis=None: np.exp(x - sc.logsumexp(x, axis, None, True))


@numba_twin(sc.log_softmax)
def _log_softmax(x, axis=None):
    if is_scalar(x):
        return lambda x, axis=None: 0.0
    if not isinstance(x, types.Array):
        return None
    return lambda x, axis=None: x - sc.logsumexp(x, axis, None, True)
