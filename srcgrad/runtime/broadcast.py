"""Shape plumbing between an operand and a broadcast result.

NumPy broadcasting makes the output of ``x * y`` larger than ``x`` whenever ``x`` has
fewer or length-1 axes.  In reverse mode the cotangent ``g`` of such an output has the
output's shape, and the cotangent of ``x`` must be summed back to ``x``'s shape
(``unbroadcast``).  In forward mode the opposite happens: a tangent that enters the output
unchanged (``x + y``) has ``x``'s shape and must be spread to the output's shape
(``broadcast_like``).  Both are the identity in the common case of equal shapes.
``zeros_like`` makes the zero of a value's own type (the adjoint of an unused input, the
derivative of a piecewise-constant function).

Every helper here accepts Python floats, NumPy scalars and ndarrays, and keeps the dtype of
the value it is given (so float32 programs stay float32).
"""

from __future__ import annotations

import numpy as np

__all__ = ["unbroadcast", "broadcast_like", "as_scalar", "zeros_like"]


def as_scalar(v):
    """``v`` itself, except that a 0-d ndarray becomes the NumPy scalar it holds.

    Reductions and ``np.where`` return 0-d arrays for scalar operands; the derivative of a
    scalar must stay a scalar so generated code (and Numba's type inference) sees one type
    per variable.
    """
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v[()]
    return v


def unbroadcast(g, x):
    """Sum the cotangent ``g`` of a broadcast result down to the shape of operand ``x``.

    Why: ``z = x * y`` broadcasts ``x``; every copy of ``x`` inside ``z`` contributes to
    ``dx``, so the cotangent is ``g`` summed over the axes broadcasting added (leading axes)
    or stretched (length-1 axes of ``x``).  Identity when the shapes already match; a scalar
    (of ``g``'s dtype) when ``x`` is a scalar.
    """
    shape = np.shape(x)
    if np.shape(g) == shape:
        return as_scalar(g) if shape == () else g
    g = np.asarray(g)
    if shape == ():
        return np.sum(g)
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    return g.reshape(shape)


def broadcast_like(t, ans):
    """The tangent ``t`` of an operand spread to the shape (and dtype) of the result ``ans``.

    Why: in forward mode, ``z = x + y`` has tangent ``dx + dy``; if ``x`` is a scalar while
    ``z`` is an array, ``dx`` alone would have the wrong shape (and later reductions such as
    ``np.sum`` would miss the repeated copies).  Identity when the shapes already match;
    otherwise a fresh, writeable array of ``ans``'s shape and dtype.
    """
    if np.shape(t) == np.shape(ans):
        return t
    out = np.empty_like(ans)
    out[...] = t
    return out


def zeros_like(x):
    """A zero with the type of ``x``: ``0.0`` for Python numbers, a zero NumPy scalar of
    ``x``'s dtype for NumPy scalars, ``np.zeros_like(x)`` for arrays.

    Why: rules of functions with a zero derivative (``np.sign``, ``//``) must still return
    a cotangent of the argument's shape and type.
    """
    if isinstance(x, np.ndarray):
        return np.zeros_like(x)
    if isinstance(x, (list, tuple)):
        # the adjoint of a stack, or of a helper's tuple of cotangents (unarray): one zero
        # per entry, in a list so that entries can be added to
        return [zeros_like(v) for v in x]
    if isinstance(x, np.generic):
        return x.dtype.type(0)
    return 0.0
