"""Rule cases for `srcgrad/rules/special.py` (see tests/rule_cases.py for the format)."""

import math

import numpy as np
import scipy.special as sc

from srcgrad.runtime.special_helpers import weights_or_one
from tests.rule_cases import (Case, _binary, _math, _math2, _unary, arr, const, mask, mat,  # noqa: F401
                              npscal, pos, scal, seq)

CASES: list = []

# ----------------------------------------------------------------- NumPy ufuncs
CASES += _unary(np.arcsinh, -3, 3) + _unary(np.arccosh, 1.2, 4.0) + _unary(np.arctanh, -0.9, 0.9)
CASES += _unary(np.exp2, -3, 3) + _unary(np.cbrt, 0.3, 3.0) + _unary(np.cbrt, -3.0, -0.3)
CASES += _binary(np.logaddexp2, x=(-30.0, 30.0))
CASES += _binary(np.float_power, x=(0.5, 2.0), y=(-1.5, 2.5))
CASES += _unary(np.deg2rad, -200, 200) + _unary(np.radians, -200, 200)
CASES += _unary(np.rad2deg, -4, 4) + _unary(np.degrees, -4, 4)
CASES += _unary(np.fabs, -2, 2)
CASES += _binary(np.copysign, x=(-2.0, 2.0), y=(-2.0, 2.0))
CASES += _binary(np.fmod, x=(-3.0, 3.0), y=(0.5, 2.0)) + _binary(np.fmod, x=(-3.0, 3.0), y=(-2.0, -0.5))
CASES += _binary(np.remainder, x=(-3.0, 3.0), y=(0.5, 2.0))
CASES += _binary(np.remainder, x=(-3.0, 3.0), y=(-2.0, -0.5))
CASES += _binary(np.fmax) + _binary(np.fmin)
CASES += _binary(np.heaviside)
# entries exactly 0 take x2, so x2's derivative is 1 there (x1 itself is not moved)
CASES += [Case(np.heaviside, (const(np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])), arr(3)), wrt=(1,)),
          Case(np.heaviside, (const(np.array([0.0, 1.0, 0.0, -2.0])), scal()), wrt=(1,))]

# ----------------------------------------------------------------- math
CASES += _math(math.asinh, -3, 3) + _math(math.acosh, 1.2, 4.0) + _math(math.atanh, -0.9, 0.9)
CASES += _math(math.log2, 0.5, 4.0) + _math(math.log10, 0.5, 4.0) + _math(math.exp2, -3, 3)
CASES += _math(math.cbrt, 0.3, 3.0) + _math(math.cbrt, -3.0, -0.3)
CASES += _math(math.erfc, -2, 2) + _math(math.lgamma, 0.2, 6.0) + _math(math.lgamma, -2.9, -2.1)
CASES += _math(math.gamma, 0.2, 5.0) + _math(math.gamma, -1.9, -1.1)
CASES += _math(math.radians, -200, 200) + _math(math.degrees, -4, 4)
CASES += _math2(math.copysign, (-2.0, 2.0), (-2.0, 2.0))
CASES += _math2(math.fmod, (-5.0, 5.0), (0.7, 2.0)) + _math2(math.fmod, (-5.0, 5.0), (-2.0, -0.7))
CASES += _math2(math.remainder, (-5.0, 5.0), (0.7, 2.0))
CASES += _math2(math.remainder, (-5.0, 5.0), (-2.0, -0.7))
CASES += [Case(math.ldexp, (scal(-2, 2), const(3))), Case(math.ldexp, (npscal(-2, 2), const(-2)))]

# ----------------------------------------------------------------- scipy.special
CASES += _unary(sc.gammaln, 0.2, 6.0) + _unary(sc.gammaln, -2.9, -2.1, shapes=((4,),), numpy_scalar=False)
CASES += _unary(sc.loggamma, 0.2, 6.0)
CASES += _unary(sc.gamma, 0.2, 5.0) + _unary(sc.gamma, -1.9, -1.1, shapes=((4,),), numpy_scalar=False)
CASES += _unary(sc.digamma, 0.2, 8.0) + _unary(sc.digamma, -2.9, -2.1, shapes=((4,),), numpy_scalar=False)
# a scalar x gives a 0-d array (SciPy's polygamma is np.where over its inputs): arrays here,
# scalars in tests/test_special_end_to_end.py
CASES += [Case(sc.polygamma, (const(1), arr(5, lo=0.2, hi=6.0)), wrt=(1,)),
          Case(sc.polygamma, (const(2), arr(2, 3, lo=0.2, hi=6.0)), wrt=(1,)),
          Case(sc.polygamma, (const(0), arr(4, lo=0.2, hi=6.0)), wrt=(1,)),
          Case(sc.polygamma, (const(3), arr(4, lo=-2.9, hi=-2.1)), wrt=(1,))]
CASES += _binary(sc.betaln, x=(0.3, 4.0), y=(0.3, 4.0))
CASES += _unary(sc.erf, -2, 2) + _unary(sc.erfc, -2, 2)
CASES += _unary(sc.erfinv, -0.95, 0.95) + _unary(sc.erfcinv, 0.05, 1.95)
CASES += _unary(sc.expit, -6, 6) + _unary(sc.logit, 0.05, 0.95) + _unary(sc.log_expit, -6, 6)
CASES += _binary(sc.xlogy, x=(-2.0, 2.0), y=(0.3, 3.0)) + _binary(sc.xlog1py, x=(-2.0, 2.0), y=(-0.7, 3.0))
CASES += _unary(sc.entr, 0.1, 3.0) + _binary(sc.rel_entr, x=(0.1, 3.0), y=(0.1, 3.0))

CASES += [
    Case(sc.logsumexp, (arr(6, lo=-3, hi=3),)),
    Case(sc.logsumexp, (arr(3, 4, lo=-3, hi=3),), dict(axis=1)),
    Case(sc.logsumexp, (arr(3, 4, lo=-3, hi=3),), dict(axis=0, keepdims=True)),
    Case(sc.logsumexp, (arr(2, 3, 4, lo=-3, hi=3),), dict(axis=-2)),
    Case(sc.logsumexp, (arr(2, 3, 4, lo=-3, hi=3),), dict(axis=(0, 2))),
    Case(sc.logsumexp, (arr(3, 4, lo=-30, hi=30),), dict(keepdims=True)),
    Case(sc.logsumexp, (arr(3, 4, lo=-3, hi=3), const(None), pos(3, 4)), wrt=(0, 2)),
    Case(sc.logsumexp, (arr(3, 4, lo=-3, hi=3), const(1), pos(4)), wrt=(0, 2)),
    Case(sc.softmax, (arr(5, lo=-3, hi=3),)),
    Case(sc.softmax, (arr(3, 4, lo=-3, hi=3),), dict(axis=1)),
    Case(sc.softmax, (arr(3, 4, lo=-3, hi=3),), dict(axis=0)),
    Case(sc.softmax, (arr(2, 3, 4, lo=-3, hi=3),), dict(axis=-1)),
    Case(sc.log_softmax, (arr(5, lo=-3, hi=3),)),
    Case(sc.log_softmax, (arr(3, 4, lo=-3, hi=3),), dict(axis=1)),
    Case(sc.log_softmax, (arr(3, 4, lo=-3, hi=3),), dict(axis=0)),
    Case(sc.log_softmax, (arr(2, 3, 4, lo=-3, hi=3),)),
]

# the helper of logsumexp's rule
CASES += [Case(weights_or_one, (arr(3),)), Case(weights_or_one, (scal(),))]
