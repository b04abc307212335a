"""``x.astype(dtype)`` as one small function per target dtype, each with its rule.

Lowering turns ``x.astype(float)`` into ``as_float64(x)``: a cast to float64 passes the
derivative through unchanged; a cast to an integer or boolean type has none (its result
is piecewise constant), so nothing flows back through it.  One function per dtype keeps
the generated code readable and gives Numba a constant dtype to compile.  (A cast to
float32 is not offered yet: every rule is checked against float64 central differences,
which a float32 result cannot match to the suite's tolerance.)
"""

from __future__ import annotations

import numpy as np

from srcgrad.rules.registry import defjvp, defnondiff, defvjp
from srcgrad.runtime.twins import numba_twin, types


def as_float64(x):
    """``x.astype(np.float64)`` (a float64 scalar for a scalar)."""
    return x.astype(np.float64) if isinstance(x, (np.ndarray, np.generic)) else np.float64(x)


def as_int64(x):
    """``x.astype(np.int64)`` (truncates toward zero)."""
    return x.astype(np.int64)


def as_int32(x):
    """``x.astype(np.int32)`` (truncates toward zero)."""
    return x.astype(np.int32)


def as_bool(x):
    """``x.astype(bool)``."""
    return x.astype(np.bool_)


FLOAT_CASTS = {np.dtype(np.float64): as_float64}
INT_CASTS = {np.dtype(np.int64): as_int64, np.dtype(np.int32): as_int32,
             np.dtype(np.bool_): as_bool}


def cast_for(dtype):
    """The cast function for a dtype spelling (``float``, ``np.int64``, ``"float32"``...),
    or None when there is none."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return None
    return FLOAT_CASTS.get(dtype) or INT_CASTS.get(dtype)


defvjp(as_float64, lambda g, ans, x: g, name="ndarray.astype(float64)")
defjvp(as_float64, lambda t, ans, x: as_float64(t))
for _dtype, _fn in INT_CASTS.items():
    defnondiff(_fn, name=f"ndarray.astype({_dtype.name})", signature_of=_fn)
del _dtype, _fn


def _numba_cast(dtype):
    """The Numba twin of a cast to ``dtype``: ``astype`` for arrays, ``dtype(x)`` else."""
    def impl(x):
        if isinstance(x, types.Array):
            return lambda x: x.astype(dtype)
        return lambda x: dtype(x)
    return impl


for _fn, _dtype in ((as_float64, np.float64), (as_int64, np.int64),
                    (as_int32, np.int32), (as_bool, np.bool_)):
    numba_twin(_fn)(_numba_cast(_dtype))
del _fn, _dtype
