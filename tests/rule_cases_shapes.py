"""Rule cases for `srcgrad/rules/shapes.py` (see tests/rule_cases.py for the format)."""

from dataclasses import dataclass

import numpy as np

from tests.rule_cases import (Case, _reduction, arr, const, mask, mat, npscal, pos, scal,  # noqa: F401
                              seq)


@dataclass(frozen=True)
class NanArr:
    """A float64 array of ``shape``, uniform in [-1, 1), NaN at every flat index k with
    k % 5 == 1 (never a whole row of the reductions below)."""

    shape: tuple

    def __call__(self, rng):
        out = rng.uniform(-1.0, 1.0, size=self.shape)
        out.reshape(-1)[1::5] = np.nan
        return out

    def __repr__(self):
        return "nan" + "x".join(map(str, self.shape))


def _nan_reduction(fn):
    """``_reduction``'s axis forms on arrays holding NaNs."""
    return [Case(c.fn, (NanArr(c.args[0].shape),), c.kwargs) for c in _reduction(fn)]

CASES: list = []

# ----------------------------------------------------------------- moving axes
CASES += [
    Case(np.moveaxis, (arr(2, 3, 4), const(0), const(-1))),
    Case(np.moveaxis, (arr(2, 3, 4), const((0, 1)), const((2, 0)))),
    Case(np.moveaxis, (arr(3, 4), const(1), const(0))),
    Case(np.swapaxes, (arr(2, 3, 4), const(0), const(2))),
    Case(np.swapaxes, (arr(3, 4), const(-1), const(0))),
    Case(np.flip, (arr(2, 3),), dict(axis=1)),
    Case(np.flip, (arr(5),)),
    Case(np.flip, (arr(2, 3, 4),)),
    Case(np.flip, (arr(2, 3, 4),), dict(axis=(0, 2))),
    Case(np.flip, (arr(2, 3, 4),), dict(axis=-2)),
    Case(np.fliplr, (arr(3, 4),)),
    Case(np.fliplr, (arr(2, 3, 4),)),
    Case(np.flipud, (arr(3, 4),)),
    Case(np.flipud, (arr(5),)),
    Case(np.rot90, (arr(3, 4),)),
    Case(np.rot90, (arr(3, 4),), dict(k=2)),
    Case(np.rot90, (arr(3, 4),), dict(k=-1)),
    Case(np.rot90, (arr(2, 3, 4),), dict(k=3, axes=(1, 2))),
    Case(np.rot90, (arr(2, 3, 4),), dict(k=1, axes=(2, 0))),
    Case(np.atleast_1d, (arr(3),)),
    Case(np.atleast_1d, (scal(),)),
    Case(np.atleast_1d, (arr(2, 3),)),
    Case(np.atleast_2d, (arr(3),)),
    Case(np.atleast_2d, (scal(),)),
    Case(np.atleast_2d, (arr(2, 3),)),
    Case(np.atleast_3d, (arr(3),)),
    Case(np.atleast_3d, (arr(2, 3),)),
    Case(np.atleast_3d, (npscal(),)),
    Case(np.broadcast_to, (arr(3), const((2, 3)))),
    Case(np.broadcast_to, (arr(2, 1), const((4, 2, 3)))),
    Case(np.broadcast_to, (scal(), const((2, 2)))),
]

# ----------------------------------------------------------------- masks of a matrix
CASES += [
    Case(np.triu, (arr(3, 4),)),
    Case(np.triu, (arr(4, 3),), dict(k=1)),
    Case(np.triu, (arr(2, 3, 3),), dict(k=-1)),
    Case(np.triu, (arr(3),)),
    Case(np.tril, (arr(3, 4),)),
    Case(np.tril, (arr(4, 3),), dict(k=-1)),
    Case(np.tril, (arr(2, 3, 3),), dict(k=1)),
    Case(np.tril, (arr(4),), dict(k=1)),
]

# ----------------------------------------------------------------- differences, shifts, order
_ORDER = np.array([[2, 0, 0], [1, 1, 2]])        # repeated indices add up
CASES += [
    Case(np.matrix_transpose, (arr(2, 3),)),
    Case(np.matrix_transpose, (arr(4, 2, 3),)),
    Case(np.repeat, (arr(4), const(3))),
    Case(np.repeat, (arr(2, 3), const(2))),
    Case(np.repeat, (arr(2, 3), const(2)), dict(axis=1)),
    Case(np.repeat, (arr(2, 3), const(3)), dict(axis=-2)),
    Case(np.diff, (arr(5),)),
    Case(np.diff, (arr(3, 5),), dict(n=2)),
    Case(np.diff, (arr(4, 3),), dict(axis=0)),
    Case(np.diff, (arr(2, 4, 3),), dict(n=2, axis=-2)),
    Case(np.roll, (arr(5), const(2))),
    Case(np.roll, (arr(3, 4), const(-1))),
    Case(np.roll, (arr(3, 4), const(1)), dict(axis=1)),
    Case(np.roll, (arr(2, 3, 4), const(5)), dict(axis=-2)),
    Case(np.take_along_axis, (arr(2, 3), const(_ORDER)), dict(axis=1)),
    Case(np.take_along_axis, (arr(3, 2), const(_ORDER.T.copy())), dict(axis=0)),
    Case(np.take_along_axis, (arr(5), const(np.array([4, 0, 0, 2])))),
    Case(np.take_along_axis, (arr(2, 3), const(np.array([5, 0, 3]))), dict(axis=None)),
    Case(np.sort, (arr(6),)),
    Case(np.sort, (arr(3, 4),)),
    Case(np.sort, (arr(3, 4),), dict(axis=0)),
    Case(np.sort, (arr(2, 3, 4),), dict(axis=1)),
    Case(np.sort, (arr(3, 4),), dict(axis=None)),
]

# ----------------------------------------------------------------- reductions ignoring NaN
CASES += _nan_reduction(np.nansum) + _nan_reduction(np.nanmean) + _nan_reduction(np.nanmax) \
    + _nan_reduction(np.nanmin) + _reduction(np.ptp)
CASES += [Case(np.nansum, (arr(3, 4),), dict(axis=1)), Case(np.nanmax, (arr(5),))]

# ----------------------------------------------------------------- joining a sequence
CASES += [
    Case(np.hstack, (seq(arr(3), arr(2)),)),
    Case(np.hstack, (seq(arr(2, 3), arr(2, 1), arr(2, 2)),)),
    Case(np.hstack, (seq(scal(), arr(2), npscal()),)),
    Case(np.vstack, (seq(arr(3), arr(3)),)),
    Case(np.vstack, (seq(arr(2, 3), arr(3), arr(1, 3)),)),
    Case(np.vstack, (seq(arr(2, 2, 3), arr(1, 2, 3)),)),
    Case(np.column_stack, (seq(arr(4), arr(4)),)),
    Case(np.column_stack, (seq(arr(3), arr(3, 2), arr(3)),)),
]

# ----------------------------------------------------------------- diagonals, takes, tiles
_PICK = np.array([3, 0, 3, 1])                  # repeated indices add up
CASES += [
    Case(np.diagonal, (arr(3, 4),)),
    Case(np.diagonal, (arr(4, 3),), dict(offset=-1)),
    Case(np.diagonal, (arr(3, 4), const(2), const(1), const(0))),
    Case(np.diagonal, (arr(2, 3, 4),), dict(offset=1, axis1=1, axis2=2)),
    Case(np.diagonal, (arr(3, 2, 3),), dict(axis1=2, axis2=0)),
    Case(np.take, (arr(2, 3), const(_PICK))),
    Case(np.take, (arr(5), const(_PICK))),
    Case(np.take, (arr(3, 4), const(np.array([2, 0, 2]))), dict(axis=0)),
    Case(np.take, (arr(3, 4), const(_PICK)), dict(axis=1)),
    Case(np.take, (arr(2, 3, 4), const(np.array([[2, 0], [2, 1]]))), dict(axis=-1)),
    Case(np.tile, (arr(3), const(3))),
    Case(np.tile, (arr(2, 3), const(2))),
    Case(np.tile, (arr(2, 2, 3), const(2))),
]

# ----------------------------------------------------------------- integration
_GRID = np.array([0.0, 0.3, 1.1, 1.5, 2.6])
CASES += [
    Case(np.trapezoid, (arr(5),)),
    Case(np.trapezoid, (arr(5), const(_GRID))),
    Case(np.trapezoid, (arr(5), arr(5)), wrt=(0, 1)),
    Case(np.trapezoid, (arr(3, 4),), dict(dx=0.5)),
    Case(np.trapezoid, (arr(5, 3),), dict(axis=0)),
    Case(np.trapezoid, (arr(2, 5, 3), const(_GRID)), dict(axis=1)),
    Case(np.trapezoid, (arr(3, 5), const(np.cumsum(np.abs(np.sin(np.arange(15.0)))).reshape(3, 5)))),
    Case(np.trapezoid, (arr(1),)),
]

# helpers of the rules above (differentiated again by second-order derivatives)
from srcgrad.runtime import shape_helpers as _sh  # noqa: E402

CASES += [
    Case(_sh.unrepeat, (arr(12), arr(4), const(3))),
    Case(_sh.unrepeat, (arr(2, 6), arr(2, 3), const(2), const(1))),
    Case(_sh.undiff, (arr(4),)),
    Case(_sh.undiff, (arr(2, 3), const(2), const(0))),
    Case(_sh.untake_along, (arr(2, 3), arr(2, 3), const(_ORDER), const(1))),
    Case(_sh.untake_along, (arr(3), arr(4), const(np.array([3, 3, 0])), const(None))),
    Case(_sh.undiagonal, (arr(3), arr(3, 4))),
    Case(_sh.undiagonal, (arr(2), arr(3, 4), const(1), const(1), const(0))),
    Case(_sh.untake, (arr(4), arr(2, 3), const(_PICK))),
    Case(_sh.untake, (arr(3, 4), arr(3, 4), const(_PICK)), dict(axis=1)),
    Case(_sh.untile, (arr(6), arr(3), const(2))),
    Case(_sh.untile, (arr(2, 9), arr(2, 3), const(3))),
    Case(_sh.trapezoid_weights, (arr(2, 5, 3), arr(5)), dict(axis=1), wrt=(1,)),
    Case(_sh.trapezoid_weights, (arr(3, 5), arr(3, 5)), wrt=(1,)),
    Case(_sh.unweights, (arr(5, 1), arr(2, 5, 3), arr(5)), dict(axis=1)),
    Case(_sh.unweights, (arr(3, 5), arr(3, 5), arr(3, 5))),
]

# ----------------------------------------------------------------- products along an axis
_ZEROS = np.array([[0.7, 0.0, -1.3, 0.0], [1.1, -0.4, 0.0, 0.9], [0.5, 1.6, -0.8, 1.2]])
CASES += [
    Case(np.cumprod, (arr(5),)),
    Case(np.cumprod, (arr(3, 4),)),
    Case(np.cumprod, (arr(3, 4),), dict(axis=1)),
    Case(np.cumprod, (arr(2, 3, 4),), dict(axis=-3)),
    Case(np.cumprod, (const(_ZEROS),), dict(axis=1)),
    Case(np.cumprod, (const(_ZEROS),), dict(axis=0)),
    Case(np.cumprod, (const(_ZEROS[0].copy()),)),
    Case(np.asarray, (arr(2, 3),)),
    Case(np.asarray, (seq(scal(), scal(), npscal()),)),
    Case(np.asarray, (seq(arr(3), arr(3)),)),
]
CASES += [
    Case(_sh.cumprod_grad, (arr(5), arr(5)), wrt=(0, 1)),
    Case(_sh.cumprod_grad, (arr(12), const(_ZEROS)), wrt=(0, 1)),
    Case(_sh.cumprod_grad, (arr(3, 4), const(_ZEROS), const(0)), wrt=(0, 1)),
    Case(_sh.cumprod_jvp, (arr(3, 4), const(_ZEROS), const(1)), wrt=(0, 1)),
    Case(_sh.cumprod_jvp, (arr(2, 3), arr(2, 3)), wrt=(0, 1)),
    Case(_sh.cumprod_jvp, (arr(4), const(_ZEROS[1].copy())), wrt=(0, 1)),
]
# (pieces of one shape: the checker subtracts the outputs as one array)
CASES += [
    Case(_sh.unhstack, (arr(4), seq(arr(2), arr(2)))),
    Case(_sh.unhstack, (arr(2, 4), seq(arr(2, 2), arr(2, 2)))),
    Case(_sh.unvstack, (arr(2, 3), seq(arr(3), arr(3)))),
    Case(_sh.uncolumn_stack, (arr(3, 2), seq(arr(3), arr(3)))),
]

# ----------------------------------------------------------------- np.sinc (exact at 0)
from srcgrad.runtime import index_helpers as _ih  # noqa: E402

CASES += [
    Case(np.sinc, (arr(5, lo=-3.0, hi=3.0),)),
    Case(np.sinc, (scal(-2.0, 2.0),)),
    Case(np.sinc, (arr(2, 3, lo=-0.9, hi=0.9),)),
    Case(np.sinc, (npscal(-2.0, 2.0),)),
    Case(np.sinc, (const(np.array([0.0, 0.0, 1.0, -2.0])),)),
    Case(np.sinc, (const(0.0),)),
    Case(_ih.sinc_deriv, (const(1), arr(6, lo=-3.0, hi=3.0)), wrt=(1,)),
    Case(_ih.sinc_deriv, (const(2), const(np.array([0.0, 0.5, -1.5]))), wrt=(1,)),
    Case(_ih.sinc_deriv, (const(3), scal(-2.0, 2.0)), wrt=(1,)),
]

# ----------------------------------------------------------------- np.average
CASES += [
    Case(np.average, (arr(6),)),
    Case(np.average, (arr(3, 4),), dict(axis=0)),
    Case(np.average, (arr(3, 4), const(None), pos(3, 4)), wrt=(0, 2)),
    Case(np.average, (arr(3, 4), const(1), pos(4)), wrt=(0, 2)),
    Case(np.average, (arr(2, 3, 4), const(-2), pos(3)), wrt=(0, 2)),
    Case(np.average, (arr(2, 3, 4), const(0), pos(2, 3, 4)), wrt=(0, 2)),
    Case(np.average, (arr(2, 3, 4),), dict(axis=(0, 2))),
    Case(np.average, (arr(5), const(None), const(np.array([0.5, 1.0, 2.0, 1.5, 0.7])))),
    Case(_ih.spread_weights, (arr(4), arr(3, 4), const(1))),
    Case(_ih.spread_weights, (arr(3, 4), arr(3, 4), const(None))),
    Case(_ih.unspread_weights, (arr(3, 4), arr(3), arr(3, 4), const(0))),
    Case(_ih.unspread_weights, (arr(2, 3), arr(2, 3), arr(2, 3), const(None))),
]

# ----------------------------------------------------------------- np.pad (constant mode)
CASES += [
    Case(np.pad, (arr(5), const(2))),
    Case(np.pad, (arr(3, 4), const(1))),
    Case(np.pad, (arr(3, 4), const(((1, 2), (0, 3))))),
    Case(np.pad, (arr(2, 3, 2), const((1, 2)))),
    Case(np.pad, (arr(3, 4), const(((2, 1),)))),
    Case(np.pad, (arr(3, 4), const(1)), dict(mode="constant", constant_values=0.5)),
    Case(np.pad, (arr(4), const((0, 2))), dict(constant_values=-1.5)),
    Case(_ih.unpad, (arr(5, 6), arr(3, 4), const(1))),
    Case(_ih.unpad, (arr(4, 7), arr(3, 4), const(((1, 0), (2, 1))))),
]

# ----------------------------------------------------------------- np.select
CASES += [
    Case(np.select, (seq(mask(5), mask(5)), seq(arr(5), arr(5))), wrt=(1,)),
    Case(np.select, (seq(mask(2, 3), mask(2, 3), mask(2, 3)), seq(arr(2, 3), arr(2, 3), arr(2, 3)),
                     arr(2, 3)), wrt=(1, 2)),
    Case(np.select, (seq(mask(4),), seq(arr(4)), scal()), wrt=(1, 2)),
]

# ----------------------------------------------------------------- np.interp
_XP = np.array([-0.8, -0.3, 0.1, 0.45, 0.9])
_FP = np.array([1.0, -0.5, 0.7, 2.0, 0.1])
CASES += [
    Case(np.interp, (arr(7, lo=-1.0, hi=1.0), const(_XP), arr(5)), wrt=(0, 2)),
    Case(np.interp, (arr(2, 3, lo=-0.7, hi=0.8), const(_XP), const(_FP))),
    Case(np.interp, (scal(-0.7, 0.8), const(_XP), arr(5)), wrt=(0, 2)),
    Case(np.interp, (arr(6, lo=-1.0, hi=1.0), const(_XP), arr(5), scal(), scal()), wrt=(0, 2, 3, 4)),
    Case(np.interp, (const(np.array([-1.0, -0.8, 0.1, 0.9, 1.2])), const(_XP), arr(5)), wrt=(2,)),
]
_X6 = np.array([-1.0, -0.6, -0.1, 0.3, 0.7, 1.0])     # inside, outside and between knots


@dataclass(frozen=True)
class Knots:
    """The knots _XP moved by up to 0.05 each (still increasing, never within 0.05 of _X6)."""

    def __call__(self, rng):
        return _XP + rng.uniform(-0.05, 0.05, size=_XP.shape)

    def __repr__(self):
        return "knots5"


CASES += [
    Case(np.interp, (const(_X6), Knots(), arr(5)), wrt=(1, 2)),
    Case(np.interp, (arr(2, 3, lo=-0.7, hi=0.8), Knots(), arr(5), scal(), scal()), wrt=(0, 1, 3, 4)),
    Case(_ih.interp_slope, (const(_X6), Knots(), arr(5)), wrt=(0, 1, 2)),
    Case(_ih.interp_slope, (scal(-0.7, 0.8), const(_XP), arr(5)), wrt=(0, 1, 2)),
    Case(_ih.unslope, (arr(6), const(_X6), Knots(), const(_FP)), wrt=(0, 1, 2)),
    Case(_ih.uninterp, (arr(6), arr(6, lo=-1.0, hi=1.0), const(_XP), const(None), const(0.5), arr(5)),
         wrt=(0, 1, 2)),
    Case(_ih.interp_linear, (arr(6, lo=-1.0, hi=1.0), const(_XP), arr(5), const(1.0), const(None)),
         wrt=(0, 1, 2)),
    Case(_ih.select_grads, (arr(2, 3), seq(mask(2, 3), mask(3)), seq(arr(2, 3), arr(3))), wrt=(0,)),
]

# ----------------------------------------------------------------- np.split, np.array_split
CASES += [
    Case(np.split, (arr(6), const(2))),
    Case(np.split, (arr(4, 3), const([1, 3]))),
    Case(np.split, (arr(2, 6), const(3)), dict(axis=1)),
    Case(np.split, (arr(2, 3, 4), const((1, 2))), dict(axis=-1)),
    Case(np.array_split, (arr(7), const(3))),
    Case(np.array_split, (arr(3, 5), const([2])), dict(axis=1)),
]
