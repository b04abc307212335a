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
the value it is given (so float32 programs stay float32).  Their Numba twins
(``runtime/twins.py``) follow them.
"""

from __future__ import annotations

import numpy as np

from srcgrad.runtime.twins import is_scalar, njit, numba_twin, types

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


# ----------------------------------------------------------------------- Numba twins
# (see runtime/twins.py: recorded here, applied by srcgrad.backends.numba)
@numba_twin(zeros_like)
def _zeros_like(x):
    if isinstance(x, types.Array):
        return lambda x: np.zeros_like(x)
    if isinstance(x, types.List):       # the adjoint or tangent of a stack
        item = x.dtype
        if isinstance(item, types.Array):
            return lambda x: [np.zeros_like(v) for v in x]
        zero = np.float32(0.0) if isinstance(item, types.Float) and item.bitwidth == 32 else 0.0
        return lambda x: [zero for _ in x]
    if isinstance(x, types.UniTuple) and isinstance(x.dtype, types.Array):
        return lambda x: [np.zeros_like(v) for v in x]
    if isinstance(x, types.UniTuple) and is_scalar(x.dtype):
        return lambda x: [0.0 for _ in x]
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: np.float32(0.0)
    if isinstance(x, types.BaseTuple):
        return None                      # never a scalar zero for a container
    return lambda x: 0.0


@numba_twin(unbroadcast)
def _unbroadcast(g, x):
    if is_scalar(x):
        if is_scalar(g):
            return lambda g, x: g
        return lambda g, x: np.sum(g)
    if not isinstance(x, types.Array):
        return None
    if is_scalar(g):
        return lambda g, x: np.full(x.shape, g)
    if g.ndim == x.ndim == 1:
        def impl(g, x):
            if g.shape[0] == x.shape[0]:
                return g
            return np.full(x.shape, np.sum(g))
        return impl
    if g.ndim == 2 and x.ndim == 1:
        def impl(g, x):
            s = np.sum(g, axis=0)
            if s.shape[0] == x.shape[0]:
                return s
            return np.full(x.shape, np.sum(s))
        return impl
    if g.ndim == x.ndim == 2:
        def impl(g, x):
            out = g
            if x.shape[0] == 1 and g.shape[0] != 1:
                out = np.sum(out, axis=0).reshape((1, out.shape[1]))
            if x.shape[1] == 1 and g.shape[1] != 1:
                out = np.sum(out, axis=1).reshape((out.shape[0], 1))
            return out
        return impl
    if isinstance(g, types.Array) and g.ndim >= x.ndim:
        kernel = njit(_unbroadcast_any)
        return lambda g, x: kernel(g, x)
    return None


def _unbroadcast_any(g, x):
    """``g`` summed onto ``x``'s shape for any ranks: each entry of ``g`` is added to the
    entry of ``x`` that broadcasting copied there (leading axes and length-1 axes of ``x``
    are summed over); compiled by the twin of ``unbroadcast``."""
    lead = g.ndim - x.ndim
    flat = np.ravel(g)
    out = np.zeros(x.size, flat.dtype)
    for k in range(flat.size):
        rest = k
        pos = 0
        stride = 1
        for d in range(g.ndim - 1, -1, -1):
            i = rest % g.shape[d]
            rest //= g.shape[d]
            if d >= lead:
                n = x.shape[d - lead]
                if n != 1:
                    pos += i * stride
                stride *= n
        out[pos] += flat[k]
    return out.reshape(x.shape)


@numba_twin(broadcast_like)
def _broadcast_like(t, ans):
    if is_scalar(ans):
        return lambda t, ans: t
    if isinstance(t, types.Array) and t.ndim == ans.ndim:
        def impl(t, ans):
            if t.shape == ans.shape:
                return t
            out = np.empty_like(ans)
            out[...] = t
            return out
        return impl

    def spread(t, ans):
        out = np.empty_like(ans)
        out[...] = t
        return out
    return spread

