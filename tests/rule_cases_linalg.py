"""Rule cases for `srcgrad/rules/linalg.py` (see tests/rule_cases.py for the format)."""

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from srcgrad.runtime import linalg_helpers as _lh
from srcgrad.runtime import numpy_helpers as _nh
from tests.rule_cases import (Case, arr, const, mask, mat, npscal, pos, scal, seq)  # noqa: F401


@dataclass(frozen=True)
class Spd:
    """A symmetric positive definite n x n matrix (or stack): B B^T / n + I."""

    n: int
    batch: tuple = ()

    def __call__(self, rng):
        b = rng.standard_normal(self.batch + (self.n, self.n))
        return b @ np.swapaxes(b, -1, -2) / self.n + np.eye(self.n)

    def __repr__(self):
        return "spd" + "x".join(map(str, self.batch + (self.n, self.n)))


@dataclass(frozen=True)
class Sym:
    """A symmetric n x n matrix (or stack) with eigenvalues 1, 2, ..., n: well apart, so
    eigenvalues and eigenvectors are smooth around it."""

    n: int
    batch: tuple = ()

    def __call__(self, rng):
        q, _ = np.linalg.qr(rng.standard_normal(self.batch + (self.n, self.n)))
        return (q * np.arange(1.0, self.n + 1)[..., None, :]) @ np.swapaxes(q, -1, -2)

    def __repr__(self):
        return "sym" + "x".join(map(str, self.batch + (self.n, self.n)))


class _Inf(float):
    """Infinity spelled ``np.inf`` by ``repr``: tests/test_rules_end_to_end.py writes the
    keyword arguments of a case into source with ``repr``."""

    def __repr__(self):
        return "np.inf" if self > 0 else "-np.inf"


INF = _Inf("inf")
NEG_INF = _Inf("-inf")


def spd(n, *batch):
    return Spd(n, tuple(batch))


def sym(n, *batch):
    return Sym(n, tuple(batch))


def small(*shape):
    """Entries in [-0.5, 0.5): matrix exponentials and powers stay moderate."""
    return arr(*shape, lo=-0.5, hi=0.5)


CASES: list = []

# ----------------------------------------------------------------- products
CASES += [
    Case(np.vdot, (arr(3), arr(3)), wrt=(0, 1)),
    Case(np.vdot, (arr(2, 3), arr(2, 3)), wrt=(0, 1)),
    Case(np.vdot, (arr(2, 3), arr(3, 2)), wrt=(0, 1)),
    Case(np.kron, (arr(2, 3), arr(3, 2)), wrt=(0, 1)),
    Case(np.kron, (arr(3), arr(4)), wrt=(0, 1)),
    Case(np.kron, (arr(2, 2), arr(3)), wrt=(0, 1)),
    Case(np.cross, (arr(3), arr(3)), wrt=(0, 1)),
    Case(np.cross, (arr(4, 3), arr(4, 3)), wrt=(0, 1)),
    Case(np.cross, (arr(4, 3), arr(3)), wrt=(0, 1)),
    Case(np.tensordot, (arr(2, 3, 4), arr(3, 4, 5)), wrt=(0, 1)),
    Case(np.tensordot, (arr(2, 3), arr(3, 4)), dict(axes=1), wrt=(0, 1)),
    Case(np.tensordot, (arr(3, 2, 4), arr(2, 5, 3)), dict(axes=((1, 0), (0, 2))), wrt=(0, 1)),
    Case(np.tensordot, (arr(2, 3), arr(4)), dict(axes=0), wrt=(0, 1)),
    Case(np.einsum, (const("ij,jk->ik"), arr(2, 3), arr(3, 4)), wrt=(1, 2)),
    Case(np.einsum, (const("bij,bjk->bik"), arr(2, 2, 3), arr(2, 3, 2)), wrt=(1, 2)),
    Case(np.einsum, (const("i,i->"), arr(4), arr(4)), wrt=(1, 2)),
    Case(np.einsum, (const("ij,jk"), arr(2, 3), arr(3, 4)), wrt=(1, 2)),
    Case(np.einsum, (const("ij,k->ijk"), arr(2, 3), arr(2)), wrt=(1, 2)),
    Case(np.einsum, (const("ii"), arr(3, 3)), wrt=(1,)),
    Case(np.einsum, (const("ii->i"), arr(3, 3)), wrt=(1,)),
    Case(np.einsum, (const("ij->j"), arr(3, 4)), wrt=(1,)),
    Case(np.einsum, (const("ijk->kij"), arr(2, 3, 4)), wrt=(1,)),
    Case(np.linalg.multi_dot, (seq(arr(2, 3), arr(3, 4), arr(4, 2)),)),
    Case(np.linalg.multi_dot, (seq(arr(3), arr(3, 4), arr(4, 2), arr(2)),)),
    Case(np.linalg.multi_dot, (seq(arr(3), arr(3, 4)),)),
]

# ----------------------------------------------------------------- numpy.linalg
CASES += [
    Case(np.linalg.matrix_power, (mat(3), const(3))),
    Case(np.linalg.matrix_power, (mat(3), const(-2))),
    Case(np.linalg.matrix_power, (mat(2, 3), const(2))),
    Case(np.linalg.matrix_power, (mat(3), const(1))),
    Case(np.linalg.pinv, (arr(3, 4),)),
    Case(np.linalg.pinv, (arr(4, 3),)),
    Case(np.linalg.pinv, (mat(3),)),
    Case(np.linalg.pinv, (arr(2, 3, 4),)),
    Case(np.linalg.cholesky, (spd(3),)),
    Case(np.linalg.cholesky, (spd(4, 2),)),
    Case(np.linalg.eigvalsh, (sym(3),)),
    Case(np.linalg.eigvalsh, (sym(4, 2),)),
    Case(np.linalg.eigvalsh, (sym(3), const("U"))),
    Case(np.linalg.slogdet, (mat(3),)),
    Case(np.linalg.slogdet, (mat(3, 2),)),
    Case(np.linalg.eigh, (sym(3),)),
    Case(np.linalg.eigh, (sym(3), const("U"))),
    Case(np.linalg.svdvals, (arr(3, 4),)),
    Case(np.linalg.svdvals, (arr(4, 3),)),
    Case(np.linalg.svdvals, (arr(2, 3, 3),)),
    Case(np.linalg.svd, (arr(4, 3),), dict(full_matrices=False)),
    Case(np.linalg.svd, (arr(3, 5),), dict(full_matrices=False)),
    Case(np.linalg.svd, (arr(3, 3),)),
    Case(np.linalg.svd, (arr(2, 4, 3),), dict(full_matrices=False)),
    Case(np.linalg.qr, (arr(4, 3),)),
    Case(np.linalg.qr, (mat(3),)),
    Case(np.linalg.qr, (arr(2, 5, 3),)),
    Case(np.linalg.lstsq, (arr(5, 3), arr(5)), dict(rcond=None), wrt=(0, 1)),
    Case(np.linalg.lstsq, (arr(6, 3), arr(6, 2)), dict(rcond=None), wrt=(0, 1)),
    Case(np.linalg.lstsq, (mat(3), arr(3)), dict(rcond=None), wrt=(0, 1)),
    Case(np.linalg.lstsq, (arr(3, 5), arr(3, 2)), dict(rcond=None), wrt=(0, 1)),
]

# norm: the orders and axes beyond the 2-norms and vector 1-norm of tests/rule_cases.py
CASES += [
    Case(np.linalg.norm, (arr(5),), dict(ord=INF)),
    Case(np.linalg.norm, (arr(5),), dict(ord=NEG_INF)),
    Case(np.linalg.norm, (arr(5),), dict(ord=3)),
    Case(np.linalg.norm, (pos(5),), dict(ord=0.5)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord=INF, axis=1)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord=3, axis=0, keepdims=True)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord="nuc")),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord=2)),
    Case(np.linalg.norm, (arr(4, 3),), dict(ord=-2)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord=1)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord=-1)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord=INF)),
    Case(np.linalg.norm, (arr(3, 4),), dict(ord=NEG_INF)),
    Case(np.linalg.norm, (arr(2, 3, 4),), dict(ord="nuc", axis=(1, 2))),
    Case(np.linalg.norm, (arr(3, 2, 4),), dict(ord=2, axis=(2, 0), keepdims=True)),
    Case(np.linalg.norm, (arr(2, 3, 4),), dict(ord=1, axis=(2, 1))),
    Case(np.linalg.norm, (arr(2, 3, 4),), dict(ord=INF, axis=(0, 2))),
]

# ----------------------------------------------------------------- scipy.linalg
CASES += [
    Case(scipy.linalg.solve_triangular, (mat(3), arr(3)), wrt=(0, 1)),
    Case(scipy.linalg.solve_triangular, (mat(3), arr(3, 2)), dict(lower=True), wrt=(0, 1)),
    Case(scipy.linalg.solve_triangular, (mat(3), arr(3)), dict(trans=1, lower=True), wrt=(0, 1)),
    Case(scipy.linalg.solve_triangular, (mat(4), arr(4, 3)), dict(trans=1), wrt=(0, 1)),
    Case(scipy.linalg.expm, (small(3, 3),)),
    Case(scipy.linalg.expm, (small(2, 3, 3),)),
    Case(scipy.linalg.expm, (small(1, 1),)),
]

# ----------------------------------------------------------------- helpers of generated code
CASES += [
    Case(_lh.kron_grad_a, (arr(6, 6), arr(2, 3), arr(3, 2)), wrt=(0, 2)),
    Case(_lh.kron_grad_a, (arr(12), arr(3), arr(4)), wrt=(0, 2)),
    Case(_lh.kron_grad_b, (arr(6, 6), arr(2, 3), arr(3, 2)), wrt=(0, 1)),
    Case(_lh.kron_grad_b, (arr(2, 6), arr(2, 2), arr(3)), wrt=(0, 1)),
    Case(_lh.tensordot_grad_a, (arr(2, 5), arr(2, 3, 4), arr(3, 4, 5)), wrt=(0, 2)),
    Case(_lh.tensordot_grad_a, (arr(4, 5), arr(3, 2, 4), arr(2, 5, 3), const(((1, 0), (0, 2)))), wrt=(0, 2)),
    Case(_lh.tensordot_grad_b, (arr(2, 5), arr(2, 3, 4), arr(3, 4, 5)), wrt=(0, 1)),
    Case(_lh.tensordot_grad_b, (arr(2, 4), arr(2, 3), arr(3, 4), const(1)), wrt=(0, 1)),
    Case(_lh.einsum_of, (const("ij,jk->ik"), arr(2, 3), arr(3, 4)), wrt=(1, 2)),
    Case(_lh.einsum_of, (const("ii"), arr(3, 3)), wrt=(1,)),
    Case(_lh.einsum_grad_a, (arr(2, 4), const("ij,jk->ik"), arr(2, 3), arr(3, 4)), wrt=(0, 3)),
    Case(_lh.einsum_grad_a, (arr(3), const("ii->i"), arr(3, 3)), wrt=(0,)),
    Case(_lh.einsum_grad_b, (arr(2, 4), const("ij,jk->ik"), arr(2, 3), arr(3, 4)), wrt=(0, 2)),
    Case(_lh.einsum_grad_b, (arr(2, 3, 2), const("ij,k->ijk"), arr(2, 3), arr(2)), wrt=(0, 2)),
    Case(_lh.frechet_pair, (arr(2, 2), arr(2, 2)), wrt=(0, 1)),
    Case(_lh.frechet_pair, (arr(2, 3, 3), arr(2, 3, 3)), wrt=(0, 1)),
    Case(_lh.upper_right, (arr(4, 4),)),
    Case(_lh.upper_right, (arr(2, 6, 6),)),
    Case(_lh.diagonal_blocks, (arr(4, 4),)),
    Case(_lh.diagonal_blocks, (arr(2, 6, 6),)),
    Case(_lh.tril_half, (arr(3, 3),)),
    Case(_lh.tril_half, (arr(2, 3, 3),)),
    Case(_lh.symmetric_from, (arr(3, 3),)),
    Case(_lh.symmetric_from, (arr(2, 3, 3), const("U"))),
    Case(_lh.symmetric_cotangent, (arr(3, 3),)),
    Case(_lh.symmetric_cotangent, (arr(2, 3, 3), const("U"))),
    Case(_lh.eigvecsh, (sym(3),)),
    Case(_lh.eigvecsh, (sym(3, 2), const("U"))),
    Case(_lh.inverse_gaps, (const(np.array([0.5, 1.7, -1.0, 3.0])),)),
    Case(_lh.inverse_gaps, (const(np.array([[0.5, 1.7, -1.0], [2.0, -0.4, 1.1]])),)),
    Case(_lh.pair_differences, (arr(4),)),
    Case(_lh.pair_differences, (arr(2, 3),)),
    Case(_lh.columns_scaled, (arr(3, 4), arr(4)), wrt=(0, 1)),
    Case(_lh.columns_scaled, (arr(2, 3, 3), arr(2, 3)), wrt=(0, 1)),
    Case(_lh.eigen_outer, (arr(3, 3), arr(3)), wrt=(0, 1)),
    Case(_lh.eigen_outer, (arr(2, 3, 3), arr(2, 3)), wrt=(0, 1)),
    Case(_lh.eigen_diagonal, (arr(3, 3), arr(3, 3)), wrt=(0, 1)),
    Case(_lh.eigen_diagonal, (arr(2, 3, 3), arr(2, 3, 3)), wrt=(0, 1)),
    Case(_lh.svd_checked, (arr(3), arr(4, 3), const(False))),
    Case(_lh.qr_checked, (arr(3, 3), arr(4, 3))),
    Case(_lh.outer_columns, (arr(3), arr(4)), wrt=(0, 1)),
    Case(_lh.outer_columns, (arr(3, 2), arr(4, 2)), wrt=(0, 1)),
    Case(_lh.lstsq_checked, (arr(3), const(3), arr(5, 3))),
    Case(_lh.residual_weights, (arr(2), arr(2))),
    Case(_lh.residual_weights, (arr(1), scal())),
    Case(_lh.residual_weights_adjoint, (arr(2), arr(2))),
    Case(_lh.residual_weights_adjoint, (scal(), arr(1))),
    Case(_nh.solve_adjoint, (mat(3), arr(3), arr(3)), wrt=(0, 1)),
    Case(_nh.solve_adjoint, (mat(3, 2), arr(2, 3), arr(3)), wrt=(0, 1)),
    Case(_nh.solve_adjoint, (mat(3, 2), arr(2, 3, 4), arr(3, 4)), wrt=(0, 1)),
    Case(_nh.solve_outer, (arr(3), arr(3), arr(3, 3), arr(3)), wrt=(0, 1)),
    Case(_nh.solve_outer, (arr(2, 3, 4), arr(2, 3, 4), arr(3, 3), arr(3, 4)), wrt=(0, 1)),
    Case(_nh.col_matmul, (arr(3, 3), arr(3), arr(3)), wrt=(0, 1)),
    Case(_nh.col_matmul, (arr(2, 3, 3), arr(2, 3), arr(3)), wrt=(0, 1)),
    Case(_nh.col_matmul, (arr(3, 3), arr(2, 3, 4), arr(3, 4)), wrt=(0, 1)),
    Case(_lh.triangular_outer, (arr(3), arr(3)), wrt=(0, 1)),
    Case(_lh.triangular_outer, (arr(3, 2), arr(3, 2), const(1), const(True)), wrt=(0, 1)),
    Case(_lh.triangular_apply, (arr(3, 3), arr(3)), wrt=(0, 1)),
    Case(_lh.triangular_apply, (arr(3, 3), arr(3, 2), const(1), const(True)), wrt=(0, 1)),
]
