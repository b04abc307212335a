"""Derivative rules for ``numpy.linalg``.

Same conventions as ``srcgrad/rules/numpy.py``.  All rules accept stacks of matrices
(leading batch axes), as the NumPy functions do.
"""

import numpy as np

from srcgrad.rules.registry import defjvp, defvjp
from srcgrad.runtime.numpy_helpers import (
    mT, norm_direction, solve_grad_a, solve_grad_b, solve_jvp_a, unreduce,
)

# 2-norm / Frobenius norm (ord None, 'fro', or 2 for vectors) and the vector 1-norm;
# other orders raise srcgrad's UnsupportedDerivativeError when the gradient runs.  The gradient is NaN at x == 0.
defvjp(np.linalg.norm,
       lambda g, ans, x, ord=None, axis=None, keepdims=False: unreduce(g, x, axis, keepdims) * norm_direction(x, ans, ord, axis, keepdims),
       name="numpy.linalg.norm")
defjvp(np.linalg.norm,
       lambda t, ans, x, ord=None, axis=None, keepdims=False: np.sum(t * norm_direction(x, ans, ord, axis, keepdims), axis=axis, keepdims=keepdims))

# d det(a) = det(a) * trace(inv(a) @ da)
defvjp(np.linalg.det,
       lambda g, ans, a: np.expand_dims(g * ans, (-2, -1)) * mT(np.linalg.inv(a)),
       name="numpy.linalg.det")
defjvp(np.linalg.det,
       lambda t, ans, a: ans * np.trace(np.linalg.solve(a, t), axis1=-2, axis2=-1))

# d inv(a) = -inv(a) @ da @ inv(a)
defvjp(np.linalg.inv,
       lambda g, ans, a: -mT(ans) @ g @ mT(ans),
       name="numpy.linalg.inv")
defjvp(np.linalg.inv,
       lambda t, ans, a: -ans @ t @ ans)

# x = solve(a, b):  db = solve(a^T, g),  da = -db @ x^T
defvjp(np.linalg.solve,
       lambda g, ans, a, b: solve_grad_a(g, ans, a, b),
       lambda g, ans, a, b: solve_grad_b(g, ans, a, b),
       name="numpy.linalg.solve")
defjvp(np.linalg.solve,
       lambda t, ans, a, b: solve_jvp_a(t, ans, a, b),
       lambda t, ans, a, b: np.linalg.solve(a, t))
