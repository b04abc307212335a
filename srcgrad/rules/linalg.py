"""Derivative rules for ``numpy.linalg``, ``scipy.linalg`` and NumPy's products.

Same conventions as ``srcgrad/rules/numpy.py``.  All rules accept stacks of matrices
(leading batch axes), as the NumPy functions do.
"""

import numpy as np

from srcgrad.rules.registry import ZERO, declare, defjvp, defvjp
from srcgrad.runtime.broadcast import unbroadcast, zeros_like
from srcgrad.runtime.linalg_helpers import (
    columns_scaled, diagonal_blocks, eigen_diagonal, eigen_outer, eigvecsh, einsum_grad_a,
    einsum_grad_b, einsum_of, frechet_pair, inverse_gaps, kron_grad_a, kron_grad_b,
    multi_dot_grads, multi_dot_jvp, lstsq_checked, outer_columns, pair_differences, qr_checked,
    residual_weights, residual_weights_adjoint, svd_checked,
    symmetric_cotangent, symmetric_from, tensordot_grad_a, tensordot_grad_b, triangular_apply,
    triangular_outer, tril_half, upper_right,
)
from srcgrad.runtime.numpy_helpers import (
    col_matmul, mT, norm_direction, reshape_as, solve_adjoint, solve_outer, unreduce,
)

try:                                   # scipy is optional (the jit and test extras)
    import scipy.linalg as _scipy_linalg
except ImportError:                    # pragma: no cover
    _scipy_linalg = None

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

# x = solve(a, b):  db = solve(a^T, g),  da = -db @ x^T;  dx = solve(a, db - da @ x)
# (solve_adjoint, solve_outer and col_matmul read b for its vector/matrix form)
defvjp(np.linalg.solve,
       lambda g, ans, a, b: solve_outer(solve_adjoint(a, g, b), ans, a, b),
       lambda g, ans, a, b: unbroadcast(solve_adjoint(a, g, b), b),
       name="numpy.linalg.solve")
defjvp(np.linalg.solve,
       lambda t, ans, a, b: -solve_adjoint(mT(a), col_matmul(t, ans, b), b),
       lambda t, ans, a, b: np.linalg.solve(a, t))

# ----------------------------------------------------------------- products

# vdot flattens both operands: the cotangent of each is g times the other, reshaped
defvjp(np.vdot,
       lambda g, ans, a, b: reshape_as(g * np.ravel(b), a),
       lambda g, ans, a, b: reshape_as(g * np.ravel(a), b))
defjvp(np.vdot,
       lambda t, ans, a, b: np.vdot(t, b),
       lambda t, ans, a, b: np.vdot(a, t))

# kron(a, b) holds every product a[i] * b[k]
defvjp(np.kron,
       lambda g, ans, a, b: kron_grad_a(g, a, b),
       lambda g, ans, a, b: kron_grad_b(g, a, b))
defjvp(np.kron,
       lambda t, ans, a, b: np.kron(t, b),
       lambda t, ans, a, b: np.kron(a, t))

# <g, a x b> = <b x g, a> = <g x a, b>  (3-vectors along the last axis, stacks broadcast)
defvjp(np.cross,
       lambda g, ans, a, b: unbroadcast(np.cross(b, g), a),
       lambda g, ans, a, b: unbroadcast(np.cross(g, a), b))
defjvp(np.cross,
       lambda t, ans, a, b: np.cross(t, b),
       lambda t, ans, a, b: np.cross(a, t))

defvjp(np.tensordot,
       lambda g, ans, a, b, axes=2: tensordot_grad_a(g, a, b, axes),
       lambda g, ans, a, b, axes=2: tensordot_grad_b(g, a, b, axes))
defjvp(np.tensordot,
       lambda t, ans, a, b, axes=2: np.tensordot(t, b, axes),
       lambda t, ans, a, b, axes=2: np.tensordot(a, t, axes))

# One or two operands, constant subscripts without '...': the cotangent of an operand is
# the einsum of g with the other operand onto that operand's subscripts.
defvjp(np.einsum,
       None,
       lambda g, ans, subscripts, a, b=None: einsum_grad_a(g, subscripts, a, b),
       lambda g, ans, subscripts, a, b=None: einsum_grad_b(g, subscripts, a, b))
defjvp(np.einsum,
       None,
       lambda t, ans, subscripts, a, b=None: einsum_of(subscripts, t, b),
       lambda t, ans, subscripts, a, b=None: einsum_of(subscripts, a, t))

# a_1 @ ... @ a_n: d/da_k = (a_1 ... a_{k-1})^T @ g @ (a_{k+1} ... a_n)^T
defvjp(np.linalg.multi_dot,
       lambda g, ans, arrays: multi_dot_grads(g, arrays),
       seq_params=(0,), name="numpy.linalg.multi_dot")
defjvp(np.linalg.multi_dot,
       lambda t, ans, arrays: multi_dot_jvp(t, arrays))

# ----------------------------------------------------------------- matrix functions

# d f(a)[e] is the upper right block of f([[a, e], [0, a]]); the adjoint is that at a^T
defvjp(np.linalg.matrix_power,
       lambda g, ans, a, n: upper_right(np.linalg.matrix_power(frechet_pair(mT(a), g), n)),
       None,
       name="numpy.linalg.matrix_power")
defjvp(np.linalg.matrix_power,
       lambda t, ans, a, n: upper_right(np.linalg.matrix_power(frechet_pair(a, t), n)),
       None)

# d pinv(a) = -X da X + X X^T da^T (I - a X) + (I - X a) da^T X^T X   (X = pinv(a), full rank)
defvjp(np.linalg.pinv,
       lambda g, ans, a: -mT(ans) @ g @ mT(ans) + (mT(g) - a @ (ans @ mT(g))) @ ans @ mT(ans) + mT(ans) @ ans @ (mT(g) - mT(g) @ ans @ a),
       name="numpy.linalg.pinv")
defjvp(np.linalg.pinv,
       lambda t, ans, a: -ans @ t @ ans + ans @ mT(ans) @ (mT(t) - mT(t) @ a @ ans) + (mT(t) - ans @ a @ mT(t)) @ mT(ans) @ ans)

# a = L L^T reads a's lower triangle: dL = L tril_half(L^-1 dA L^-T) for the symmetric dA
defvjp(np.linalg.cholesky,
       lambda g, ans, a: symmetric_cotangent(mT(np.linalg.inv(ans)) @ tril_half(mT(ans) @ g) @ np.linalg.inv(ans)),
       name="numpy.linalg.cholesky")
defjvp(np.linalg.cholesky,
       lambda t, ans, a: ans @ tril_half(np.linalg.inv(ans) @ symmetric_from(t) @ mT(np.linalg.inv(ans))))

# dw_i = v_i^T dA v_i (distinct eigenvalues; one triangle of a is read, UPLO)
defvjp(np.linalg.eigvalsh,
       lambda g, ans, a, UPLO="L": symmetric_cotangent(eigen_outer(eigvecsh(a, UPLO), g), UPLO),
       name="numpy.linalg.eigvalsh")
defjvp(np.linalg.eigvalsh,
       lambda t, ans, a, UPLO="L": eigen_diagonal(eigvecsh(a, UPLO), symmetric_from(t, UPLO)))

# (sign, log|det a|): the sign is piecewise constant; d log|det a| = trace(inv(a) @ da)
defvjp(np.linalg.slogdet,
       lambda g, ans, a: np.expand_dims(g[1], (-2, -1)) * mT(np.linalg.inv(a)),
       name="numpy.linalg.slogdet")
defjvp(np.linalg.slogdet,
       lambda t, ans, a: (zeros_like(ans[0]), np.trace(np.linalg.solve(a, t), axis1=-2, axis2=-1)))
declare(np.linalg.slogdet, arity=2)

# (w, V) = eigh(a), distinct eigenvalues: dw = diag(V^T dS V), V^T dV = F * (V^T dS V),
# with dS the symmetric matrix the triangle UPLO of da stands for
defvjp(np.linalg.eigh,
       lambda g, ans, a, UPLO="L": symmetric_cotangent(eigen_outer(ans[1], g[0]) + ans[1] @ (inverse_gaps(ans[0]) * (mT(ans[1]) @ g[1])) @ mT(ans[1]), UPLO),
       name="numpy.linalg.eigh")
defjvp(np.linalg.eigh,
       lambda t, ans, a, UPLO="L": (eigen_diagonal(ans[1], symmetric_from(t, UPLO)), ans[1] @ (inverse_gaps(ans[0]) * (mT(ans[1]) @ symmetric_from(t, UPLO) @ ans[1]))))
declare(np.linalg.eigh, arity=2)

# ds_i = u_i^T dA v_i (distinct, nonzero singular values)
# (written with np.linalg.svd, whose rules give the second derivative)
defvjp(np.linalg.svdvals,
       lambda g, ans, x: columns_scaled(np.linalg.svd(x, full_matrices=False)[0], g) @ np.linalg.svd(x, full_matrices=False)[2],
       name="numpy.linalg.svdvals")
defjvp(np.linalg.svdvals,
       lambda t, ans, x: np.sum(np.linalg.svd(x, full_matrices=False)[0] * (t @ mT(np.linalg.svd(x, full_matrices=False)[2])), axis=-2))

# (u, s, vh) = svd(a), thin (k = min(m, n)), distinct nonzero s; F_ij = 1 / (s_j^2 - s_i^2),
# dP = u^T da v.  Forward:  ds = diag(dP),
#   du = u (F o (dP S + S dP^T)) + (I - u u^T) da v S^-1,
#   dv = v (F o (S dP + dP^T S)) + (I - v v^T) da^T u S^-1          (dvh = dv^T).
# Reverse, with M = u^T gu, N = v^T gv (F^T = -F):
#   ga = u (diag(gs) + (F o (M - M^T)) S + S (F o (N - N^T))) vh
#        + (I - u u^T) gu S^-1 vh + u S^-1 gvh (I - v v^T).
# svd_checked refuses full_matrices=True on a non-square a, and hermitian=True, when it runs;
# compute_uv=False is lowered to np.linalg.svdvals.
defvjp(np.linalg.svd,
       lambda g, ans, a, full_matrices=True, compute_uv=True, hermitian=False: ans[0] @ (columns_scaled(inverse_gaps(svd_checked(ans[1], a, full_matrices, hermitian) ** 2) * (mT(ans[0]) @ g[0] - mT(g[0]) @ ans[0]), ans[1]) + mT(columns_scaled(inverse_gaps(ans[1] ** 2) * (ans[2] @ mT(g[2]) - g[2] @ mT(ans[2])), ans[1]))) @ ans[2] + columns_scaled(ans[0], g[1]) @ ans[2] + columns_scaled(g[0] - ans[0] @ (mT(ans[0]) @ g[0]), 1.0 / ans[1]) @ ans[2] + columns_scaled(ans[0], 1.0 / ans[1]) @ (g[2] - (g[2] @ mT(ans[2])) @ ans[2]),
       None, None, None, name="numpy.linalg.svd")
defjvp(np.linalg.svd,
       lambda t, ans, a, full_matrices=True, compute_uv=True, hermitian=False: (ans[0] @ (inverse_gaps(svd_checked(ans[1], a, full_matrices, hermitian) ** 2) * (columns_scaled(mT(ans[0]) @ t @ mT(ans[2]), ans[1]) + mT(columns_scaled(mT(ans[0]) @ t @ mT(ans[2]), ans[1])))) + columns_scaled(t @ mT(ans[2]) - ans[0] @ (mT(ans[0]) @ t @ mT(ans[2])), 1.0 / ans[1]), np.sum(ans[0] * (t @ mT(ans[2])), axis=-2), -(inverse_gaps(ans[1] ** 2) * (columns_scaled(mT(mT(ans[0]) @ t @ mT(ans[2])), ans[1]) + mT(columns_scaled(mT(mT(ans[0]) @ t @ mT(ans[2])), ans[1])))) @ ans[2] + mT(columns_scaled(mT(t) @ ans[0] - mT(ans[2]) @ mT(mT(ans[0]) @ t @ mT(ans[2])), 1.0 / ans[1]))),
       None, None, None)
declare(np.linalg.svd, arity=3)

# (q, r) = qr(a), mode='reduced', m >= n, full column rank.  Forward, with X = da r^-1,
# C = q^T X and the skew W = tril(C, -1) - tril(C, -1)^T:  dq = q (W - C) + X,  dr = (C - W) r.
# Reverse, with M = q^T gq - gr r^T:  ga = (gq + q (tril(M - M^T, -1) - M)) r^-T.
defvjp(np.linalg.qr,
       lambda g, ans, a, mode="reduced": (g[0] + ans[0] @ (np.tril(mT(ans[0]) @ g[0] - g[1] @ mT(ans[1]) - mT(mT(ans[0]) @ g[0] - g[1] @ mT(ans[1])), -1) - (mT(ans[0]) @ g[0] - g[1] @ mT(ans[1])))) @ mT(np.linalg.inv(qr_checked(ans[1], a))),
       None, name="numpy.linalg.qr")
defjvp(np.linalg.qr,
       lambda t, ans, a, mode="reduced": (ans[0] @ (np.tril(mT(ans[0]) @ t @ np.linalg.inv(qr_checked(ans[1], a)), -1) - mT(np.tril(mT(ans[0]) @ t @ np.linalg.inv(ans[1]), -1)) - mT(ans[0]) @ t @ np.linalg.inv(ans[1])) + t @ np.linalg.inv(ans[1]), (mT(ans[0]) @ t @ np.linalg.inv(ans[1]) - np.tril(mT(ans[0]) @ t @ np.linalg.inv(ans[1]), -1) + mT(np.tril(mT(ans[0]) @ t @ np.linalg.inv(ans[1]), -1))) @ ans[1]),
       None)
declare(np.linalg.qr, arity=2, refuses=lambda a, mode="reduced": None if mode == "reduced" else
        "only mode='reduced' (the default, giving q and r) is differentiated; for r alone take "
        "the second result")

# (x, res, rank, s) = lstsq(a, b), a of full rank: x = P b with P = pinv(a), r = b - a x.
#   dx = -P da x + P P^T da^T r + (I - P a) da^T P^T x + P db     (the pinv rule applied to b)
#   ga = -(P^T gx + 2 r w) x^T + r (P P^T gx)^T + (P^T x)((I - P a) gx)^T + u diag(gs) vh (svdvals' rule),
#   gb = P^T gx + 2 r w,
# where w are the residuals' cotangents per column of b (res = sum(r**2, axis=0) when m > n,
# and a^T r = 0 there, so d res = 2 sum(r * (db - da x), axis=0); NumPy returns an empty
# res otherwise).  The rank is an integer; s are the singular values (svdvals' rules).
defvjp(np.linalg.lstsq,
       lambda g, ans, a, b, rcond=None: (-outer_columns(mT(np.linalg.pinv(a)) @ g[0] + 2.0 * (b - a @ ans[0]) * residual_weights(g[1], ans[0][0]), lstsq_checked(ans[0], ans[2], a)) + outer_columns(b - a @ ans[0], np.linalg.pinv(a) @ (mT(np.linalg.pinv(a)) @ g[0])) + outer_columns(mT(np.linalg.pinv(a)) @ ans[0], g[0] - np.linalg.pinv(a) @ (a @ g[0])) + columns_scaled(np.linalg.svd(a, full_matrices=False)[0], g[3]) @ np.linalg.svd(a, full_matrices=False)[2]),
       lambda g, ans, a, b, rcond=None: mT(np.linalg.pinv(a)) @ g[0] + 2.0 * (b - a @ lstsq_checked(ans[0], ans[2], a)) * residual_weights(g[1], ans[0][0]),
       None, name="numpy.linalg.lstsq")
defjvp(np.linalg.lstsq,
       lambda t, ans, a, b, rcond=None: (-np.linalg.pinv(a) @ (t @ lstsq_checked(ans[0], ans[2], a)) + np.linalg.pinv(a) @ (mT(np.linalg.pinv(a)) @ (mT(t) @ (b - a @ ans[0]))) + mT(t) @ (mT(np.linalg.pinv(a)) @ ans[0]) - np.linalg.pinv(a) @ (a @ (mT(t) @ (mT(np.linalg.pinv(a)) @ ans[0]))), residual_weights_adjoint(-2.0 * np.sum((b - a @ ans[0]) * (t @ ans[0]), axis=0), ans[1]), 0.0, np.sum(np.linalg.svd(a, full_matrices=False)[0] * (t @ mT(np.linalg.svd(a, full_matrices=False)[2])), axis=-2)),
       lambda t, ans, a, b, rcond=None: (np.linalg.pinv(a) @ t, residual_weights_adjoint(2.0 * np.sum((b - a @ lstsq_checked(ans[0], ans[2], a)) * t, axis=0), ans[1]), 0.0, zeros_like(ans[3])),
       None)
declare(np.linalg.lstsq, arity=4)

# ----------------------------------------------------------------- scipy.linalg
if _scipy_linalg is not None:
    solve_triangular, expm = _scipy_linalg.solve_triangular, _scipy_linalg.expm

    # x = T^-1 b (T^-T b for trans=1), T the triangle of a that is read:
    # db = solve(T^T, g), dT = -db x^T on the triangle
    defvjp(solve_triangular,
           lambda g, ans, a, b, trans=0, lower=False: triangular_outer(solve_triangular(a, g, 1 - trans, lower), ans, trans, lower),
           lambda g, ans, a, b, trans=0, lower=False: solve_triangular(a, g, 1 - trans, lower),
           None, None, name="scipy.linalg.solve_triangular")
    defjvp(solve_triangular,
           lambda t, ans, a, b, trans=0, lower=False: solve_triangular(a, triangular_apply(t, ans, trans, lower), trans, lower),
           lambda t, ans, a, b, trans=0, lower=False: solve_triangular(a, t, trans, lower),
           None, None)

    # d expm(A)[E] is the upper right block of expm([[A, E], [0, A]])
    defvjp(expm,
           lambda g, ans, A: upper_right(expm(frechet_pair(mT(A), g))),
           name="scipy.linalg.expm")
    defjvp(expm,
           lambda t, ans, A: upper_right(expm(frechet_pair(A, t))))

# ----------------------------------------------------------------- rules of the helpers
# (grad of grad).  The product helpers are bilinear, as in rules/adjoints.py: for
# G_a(g, a, b) = d<g, B(a, b)>/da, <c, G_a(g, a, b)> = <g, B(c, b)>.

defvjp(kron_grad_a,
       lambda g, ans, grad, a, b: reshape_as(np.kron(g, b), grad),
       ZERO,
       lambda g, ans, grad, a, b: kron_grad_b(grad, g, b))
defjvp(kron_grad_a,
       lambda t, ans, grad, a, b: kron_grad_a(t, a, b),
       ZERO,
       lambda t, ans, grad, a, b: kron_grad_a(grad, a, t))

defvjp(kron_grad_b,
       lambda g, ans, grad, a, b: reshape_as(np.kron(a, g), grad),
       lambda g, ans, grad, a, b: kron_grad_a(grad, a, g),
       ZERO)
defjvp(kron_grad_b,
       lambda t, ans, grad, a, b: kron_grad_b(t, a, b),
       lambda t, ans, grad, a, b: kron_grad_b(grad, t, b),
       ZERO)

defvjp(tensordot_grad_a,
       lambda g, ans, grad, a, b, axes=2: np.tensordot(g, b, axes),
       ZERO,
       lambda g, ans, grad, a, b, axes=2: tensordot_grad_b(grad, g, b, axes))
defjvp(tensordot_grad_a,
       lambda t, ans, grad, a, b, axes=2: tensordot_grad_a(t, a, b, axes),
       ZERO,
       lambda t, ans, grad, a, b, axes=2: tensordot_grad_a(grad, a, t, axes))

defvjp(tensordot_grad_b,
       lambda g, ans, grad, a, b, axes=2: np.tensordot(a, g, axes),
       lambda g, ans, grad, a, b, axes=2: tensordot_grad_a(grad, a, g, axes),
       ZERO)
defjvp(tensordot_grad_b,
       lambda t, ans, grad, a, b, axes=2: tensordot_grad_b(t, a, b, axes),
       lambda t, ans, grad, a, b, axes=2: tensordot_grad_b(grad, t, b, axes),
       ZERO)

defvjp(einsum_of,
       None,
       lambda g, ans, subscripts, a, b=None: einsum_grad_a(g, subscripts, a, b),
       lambda g, ans, subscripts, a, b=None: einsum_grad_b(g, subscripts, a, b))
defjvp(einsum_of,
       None,
       lambda t, ans, subscripts, a, b=None: einsum_of(subscripts, t, b),
       lambda t, ans, subscripts, a, b=None: einsum_of(subscripts, a, t))

defvjp(einsum_grad_a,
       lambda g, ans, grad, subscripts, a, b=None: einsum_of(subscripts, g, b),
       None,
       ZERO,
       lambda g, ans, grad, subscripts, a, b=None: einsum_grad_b(grad, subscripts, g, b))
defjvp(einsum_grad_a,
       lambda t, ans, grad, subscripts, a, b=None: einsum_grad_a(t, subscripts, a, b),
       None,
       ZERO,
       lambda t, ans, grad, subscripts, a, b=None: einsum_grad_a(grad, subscripts, a, t))

defvjp(einsum_grad_b,
       lambda g, ans, grad, subscripts, a, b: einsum_of(subscripts, a, g),
       None,
       lambda g, ans, grad, subscripts, a, b: einsum_grad_a(grad, subscripts, a, g),
       ZERO)
defjvp(einsum_grad_b,
       lambda t, ans, grad, subscripts, a, b: einsum_grad_b(t, subscripts, a, b),
       None,
       lambda t, ans, grad, subscripts, a, b: einsum_grad_b(grad, subscripts, t, b),
       ZERO)

# linear maps between a matrix and its Frechet block matrix
defvjp(frechet_pair,
       lambda g, ans, a, e: diagonal_blocks(g),
       lambda g, ans, a, e: upper_right(g))
defjvp(frechet_pair,
       lambda t, ans, a, e: frechet_pair(t, zeros_like(t)),
       lambda t, ans, a, e: frechet_pair(zeros_like(t), t))

defvjp(upper_right, lambda g, ans, m: frechet_pair(zeros_like(g), g))
defjvp(upper_right, lambda t, ans, m: upper_right(t))

defvjp(diagonal_blocks, lambda g, ans, m: frechet_pair(g, zeros_like(g)))
defjvp(diagonal_blocks, lambda t, ans, m: diagonal_blocks(t))

# masks of triangles: tril_half is its own adjoint, symmetric_from and symmetric_cotangent
# are each other's
defvjp(tril_half, lambda g, ans, x: tril_half(g))
defjvp(tril_half, lambda t, ans, x: tril_half(t))

defvjp(symmetric_from, lambda g, ans, x, UPLO="L": symmetric_cotangent(g, UPLO))
defjvp(symmetric_from, lambda t, ans, x, UPLO="L": symmetric_from(t, UPLO))

defvjp(symmetric_cotangent, lambda g, ans, p, UPLO="L": symmetric_from(g, UPLO))
defjvp(symmetric_cotangent, lambda t, ans, p, UPLO="L": symmetric_cotangent(t, UPLO))

# eigenvectors of a symmetric matrix (distinct eigenvalues w): V^T dV = F * (V^T dA V),
# F = inverse_gaps(w)
defvjp(eigvecsh,
       lambda g, ans, a, UPLO="L": symmetric_cotangent(ans @ (inverse_gaps(np.linalg.eigvalsh(a, UPLO)) * (mT(ans) @ g)) @ mT(ans), UPLO))
defjvp(eigvecsh,
       lambda t, ans, a, UPLO="L": ans @ (inverse_gaps(np.linalg.eigvalsh(a, UPLO)) * (mT(ans) @ symmetric_from(t, UPLO) @ ans)))

# F_ij = 1 / (w_j - w_i):  dF = -F * F * (dw_j - dw_i)
defvjp(inverse_gaps,
       lambda g, ans, w: np.sum(ans * ans * g, axis=-1) - np.sum(ans * ans * g, axis=-2))
defjvp(inverse_gaps,
       lambda t, ans, w: -ans * ans * pair_differences(t))

defvjp(pair_differences, lambda g, ans, w: np.sum(g, axis=-2) - np.sum(g, axis=-1))
defjvp(pair_differences, lambda t, ans, w: pair_differences(t))

defvjp(columns_scaled,
       lambda g, ans, v, w: columns_scaled(g, w),
       lambda g, ans, v, w: np.sum(g * v, axis=-2))
defjvp(columns_scaled,
       lambda t, ans, v, w: columns_scaled(t, w),
       lambda t, ans, v, w: columns_scaled(v, t))

# V diag(w) V^T and diag(V^T m V) are adjoint in w and m
defvjp(eigen_outer,
       lambda g, ans, v, w: (g + mT(g)) @ columns_scaled(v, w),
       lambda g, ans, v, w: eigen_diagonal(v, g))
defjvp(eigen_outer,
       lambda t, ans, v, w: columns_scaled(t, w) @ mT(v) + columns_scaled(v, w) @ mT(t),
       lambda t, ans, v, w: eigen_outer(v, t))

defvjp(eigen_diagonal,
       lambda g, ans, v, m: (m + mT(m)) @ columns_scaled(v, g),
       lambda g, ans, v, m: eigen_outer(v, g))
defjvp(eigen_diagonal,
       lambda t, ans, v, m: np.sum(t * ((m + mT(m)) @ v), axis=-2),
       lambda t, ans, v, m: eigen_diagonal(v, t))

# svd_checked passes the singular values through (it only refuses forms)
defvjp(svd_checked, lambda g, ans, s, a, full_matrices=True, hermitian=False: g, ZERO, None, None)
defjvp(svd_checked, lambda t, ans, s, a, full_matrices=True, hermitian=False: t, ZERO, None, None)

defvjp(qr_checked, lambda g, ans, r, a: g, ZERO)
defjvp(qr_checked, lambda t, ans, r, a: t, ZERO)

# least squares: u v^T is bilinear; the check passes x through; the residual weights and
# their adjoint are each other's adjoints
defvjp(outer_columns,
       lambda g, ans, u, v: g @ v,
       lambda g, ans, u, v: mT(g) @ u)
defjvp(outer_columns,
       lambda t, ans, u, v: outer_columns(t, v),
       lambda t, ans, u, v: outer_columns(u, t))

defvjp(lstsq_checked, lambda g, ans, x, rank, a: g, ZERO, ZERO)
defjvp(lstsq_checked, lambda t, ans, x, rank, a: t, ZERO, ZERO)

defvjp(residual_weights, lambda g, ans, gres, like: residual_weights_adjoint(g, gres), ZERO)
defjvp(residual_weights, lambda t, ans, gres, like: residual_weights(t, like), ZERO)

defvjp(residual_weights_adjoint, lambda g, ans, w, gres: residual_weights(g, w), ZERO)
defjvp(residual_weights_adjoint, lambda t, ans, w, gres: residual_weights_adjoint(t, gres), ZERO)

# solve's helpers.  y = solve_adjoint(a, g, b) = a^-T g:  dy = -a^-T (da^T y) + a^-T dg, and
# its adjoint takes c to (-y (a^-1 c)^T on a, a^-1 c on g); solve_outer (-y x^T) and
# col_matmul (m x) are bilinear, each the other's adjoint in the matrix
defvjp(solve_adjoint,
       lambda g, ans, a, gg, b: solve_outer(ans, solve_adjoint(mT(a), g, b), a, b),
       lambda g, ans, a, gg, b: solve_adjoint(mT(a), g, b),
       ZERO)
defjvp(solve_adjoint,
       lambda t, ans, a, gg, b: -solve_adjoint(a, col_matmul(mT(t), ans, b), b),
       lambda t, ans, a, gg, b: solve_adjoint(a, t, b),
       ZERO)

defvjp(solve_outer,
       lambda g, ans, y, x, a, b: -unbroadcast(col_matmul(g, x, b), y),
       lambda g, ans, y, x, a, b: -unbroadcast(col_matmul(mT(g), y, b), x),
       ZERO, ZERO)
defjvp(solve_outer,
       lambda t, ans, y, x, a, b: solve_outer(t, x, a, b),
       lambda t, ans, y, x, a, b: solve_outer(y, t, a, b),
       ZERO, ZERO)

defvjp(col_matmul,
       lambda g, ans, m, x, b: -solve_outer(g, x, m, b),
       lambda g, ans, m, x, b: unbroadcast(col_matmul(mT(m), g, b), x),
       ZERO)
defjvp(col_matmul,
       lambda t, ans, m, x, b: col_matmul(t, x, b),
       lambda t, ans, m, x, b: col_matmul(m, t, b),
       ZERO)

# triangular_outer(y, x) = -tri(y x^T) and triangular_apply(c, x) = -tri(c) x are adjoint
defvjp(triangular_outer,
       lambda g, ans, y, x, trans=0, lower=False: triangular_apply(g, x, trans, lower),
       lambda g, ans, y, x, trans=0, lower=False: triangular_apply(g, y, 1 - trans, lower),
       None, None)
defjvp(triangular_outer,
       lambda t, ans, y, x, trans=0, lower=False: triangular_outer(t, x, trans, lower),
       lambda t, ans, y, x, trans=0, lower=False: triangular_outer(y, t, trans, lower),
       None, None)

defvjp(triangular_apply,
       lambda g, ans, c, x, trans=0, lower=False: triangular_outer(g, x, trans, lower),
       lambda g, ans, c, x, trans=0, lower=False: triangular_apply(c, g, 1 - trans, lower),
       None, None)
defjvp(triangular_apply,
       lambda t, ans, c, x, trans=0, lower=False: triangular_apply(t, x, trans, lower),
       lambda t, ans, c, x, trans=0, lower=False: triangular_apply(c, t, trans, lower),
       None, None)

# ----------------------------------------------------------------- facts the passes use
if _scipy_linalg is not None:
    declare(expm, no_jit="Numba has no scipy.linalg.expm")

# ----------------------------------------------------------------- known, without rules
declare(np.linalg.eig, name="numpy.linalg.eig",
        why_no_rule="eigenvalues of a general matrix may be complex; np.linalg.eigh and "
        "eigvalsh have rules for symmetric matrices")
