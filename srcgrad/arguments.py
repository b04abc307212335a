"""Arguments as the pipeline sees them: the kind of each leaf (float scalar, int, bool,
float array of a rank and dtype...), which together key a specialization, and where each
argument's leaves sit among all leaves."""

from __future__ import annotations

import numpy as np

FLOAT64 = ("float", None, "float64")
_DTYPE_NAMES: dict = {}


def arg_kind(value):
    """(kind, ndim, dtype name) describing an argument for specialization.

    Called on every gradient call, so the common cases are tested first and cheaply.
    """
    cls = type(value)
    if cls is float:
        return FLOAT64
    if cls is np.ndarray:
        dtype = value.dtype
        name = _DTYPE_NAMES.get(dtype)
        if name is None:
            name = _DTYPE_NAMES[dtype] = dtype.name
        kind = {"f": "array", "i": "intarray", "u": "intarray", "c": "complexarray"}.get(
            dtype.kind, "otherarray")
        return (kind, value.ndim, name)
    if isinstance(value, (bool, np.bool_)):
        return ("bool", None, None)
    if isinstance(value, (int, np.integer)):
        return ("int", None, None)
    if isinstance(value, np.floating):
        return ("float", None, value.dtype.name)
    if isinstance(value, float):
        return FLOAT64
    if isinstance(value, (complex, np.complexfloating)):
        return ("complex", None, None)      # refused where it meets a derivative
    return ("other", None, None)


def kinds_key(args) -> tuple:
    return tuple(arg_kind(a) for a in args)


def differentiable(kind) -> bool:
    """Whether an argument of this kind (from ``arg_kind``) can be differentiated."""
    return kind[0] in ("float", "array")


def base_name(fn) -> str:
    return fn.__name__ if fn.__name__.isidentifier() else "f"


def leaf_ranges(trees) -> list[range]:
    """The positions of each argument's leaves among all leaves."""
    out, start = [], 0
    for tree in trees:
        out.append(range(start, start + tree.num_leaves))
        start += tree.num_leaves
    return out
