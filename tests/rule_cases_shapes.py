"""Rule cases for `srcgrad/rules/shapes.py` (see tests/rule_cases.py for the format)."""

import numpy as np

from tests.rule_cases import (Case, arr, const, mask, mat, npscal, pos, scal, seq)  # noqa: F401

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
