"""Calls to the user's own Python functions: each callee gets its own adjoint.

A call ``y = helper(a, b)`` in differentiated code becomes a primitive whose rule is the
callee's generated derivative, compiled on first use for the argument kinds it meets and
cached like any other derivative.  The callee is not inlined, so recursion and large call
graphs stay bounded; ``srcgrad.show(helper)`` shows the callee's own adjoint.  The reverse
sweep re-runs the callee's forward sweep inside its adjoint (what it needs is not kept
between the caller's sweeps).
"""

from __future__ import annotations

import inspect

import gast
import numpy as np

from srcgrad.rules import registry
from srcgrad.transforms.parse import parse_function

#: ``(fn, args) -> (differentiated positions, compiled adjoint or None)``: the pipeline,
#: registered by ``srcgrad.pipeline`` when it loads (``use_pipeline``).  The pipeline
#: reaches this module through lowering, so this module cannot import it.
_ADJOINT = None


def use_pipeline(adjoint) -> None:
    """Register how a callee's own adjoint is built (called by ``srcgrad.pipeline``)."""
    global _ADJOINT
    _ADJOINT = adjoint


#: ``(obj, kinds) -> plain function or None``: what a derivative object (a ``grad(f)``)
#: computes for arguments of these kinds, as a plain function with source, registered by
#: ``srcgrad.pipeline`` (``use_derivatives``).
_AS_FUNCTION = None
_IS_DERIVATIVE = None


def use_derivatives(is_derivative, as_function) -> None:
    """Register how a derivative called inside differentiated code becomes a function."""
    global _AS_FUNCTION, _IS_DERIVATIVE
    _IS_DERIVATIVE, _AS_FUNCTION = is_derivative, as_function


#: Functions a differentiated function may call on constants to make a derivative when
#: it is transformed (``srcgrad.grad(potential)`` inside it); registered by ``api``.
TRANSFORM_TIME: set = set()


def at_transform_time(*fns) -> None:
    TRANSFORM_TIME.update(fns)


#: Functions of a function called with run-time operands inside differentiated code
#: (``srcgrad.jvp(f, (x,), (v,))``): ``fn -> (f, kinds of the primals) -> plain function of
#: (*primals, *tangents)``, registered by ``api``.
RESTATED: dict = {}


def restated_calls(fn, function_of) -> None:
    RESTATED[fn] = function_of


#: ``srcgrad.vjp`` and ``(f, kinds) -> plain function of (*primals, cotangent)``, registered
#: by ``api``: ``out, pullback = srcgrad.vjp(f, x)`` inside differentiated code.
PULLBACKS: dict = {}


def pullbacks(vjp, function_of) -> None:
    PULLBACKS[vjp] = function_of


def is_derivative(obj) -> bool:
    """Whether ``obj`` is a derivative object (a ``grad(f)``) the pipeline can restate."""
    return _IS_DERIVATIVE is not None and _IS_DERIVATIVE(obj)


def derivative_function(obj, kinds):
    """The plain function a derivative object computes for arguments of ``kinds``
    (``(kind, ndim, dtype)`` each), or None if ``obj`` is not a derivative."""
    return _AS_FUNCTION(obj, kinds) if _AS_FUNCTION is not None else None


class CalleePrimitive:
    """The primitive standing for a call of a user-defined function."""

    def __init__(self, fn, arity):
        self.fn = fn
        self.arity = arity                   # number of returned values if a tuple, else None
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__module__ = "srcgrad.calls"

    def __call__(self, *args):
        return self.fn(*args)

    def vjp(self, g, ans, *args):
        """The cotangent of every argument (None for non-float ones) from the callee's adjoint."""
        wrt, compiled = _ADJOINT(self.fn, args)
        if not wrt:
            return (None,) * len(args)
        _, grads = compiled.function(*args, g)
        out = [None] * len(args)
        for i, grad in zip(wrt, grads):
            out[i] = grad
        return tuple(out)


_PRIMITIVES: dict = {}


#: Packages whose functions are library calls, never lowered from their source: they have
#: rules, run as they are where no derivative reaches them, or are refused.
LIBRARIES = ("numpy", "scipy")


def is_library(fn) -> bool:
    module = getattr(fn, "__module__", None) or ""
    return module.split(".")[0] in LIBRARIES or isinstance(fn, np.ufunc)


def is_user_function(fn) -> bool:
    """A plain Python function (with code), or a method bound to an instance such as
    ``self.predict`` (not a classmethod such as ``Op.apply``), that has no registered rule
    and is not a library's."""
    plain = inspect.isfunction(fn) or (inspect.ismethod(fn) and inspect.isfunction(fn.__func__)
                                       and not isinstance(fn.__self__, type))
    return plain and registry.lookup(fn) is None and not is_library(fn)


def callee_primitive(fn) -> CalleePrimitive:
    """The registered primitive for calls of ``fn``, made once per function."""
    prim = _PRIMITIVES.get(fn)
    if prim is None:
        prim = _PRIMITIVES[fn] = CalleePrimitive(fn, returned_arity(fn))
        registry.defvjp_joint(prim, prim.vjp, name=f"{fn.__module__}.{fn.__qualname__}")
    return prim


def returned_arity(fn) -> int | None:
    """How many values ``fn`` returns when every ``return`` returns a tuple, else None."""
    node = parse_function(fn).node
    if isinstance(node, gast.Lambda):
        return len(node.body.elts) if isinstance(node.body, gast.Tuple) else None
    sizes = set()
    stack = list(node.body)
    while stack:
        item = stack.pop()
        if isinstance(item, (gast.FunctionDef, gast.Lambda, gast.ClassDef)):
            continue
        if isinstance(item, gast.Return):
            sizes.add(len(item.value.elts) if isinstance(item.value, gast.Tuple) else None)
        stack.extend(gast.iter_child_nodes(item))
    return sizes.pop() if len(sizes) == 1 else None


def bind_arguments(fn, args, kwargs, constant):
    """Positional operands for every parameter of ``fn`` (defaults filled in), or an error text."""
    sig = inspect.signature(fn)
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY):
            return None, f"{fn.__name__} has *args, **kwargs or keyword-only parameters"
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        return None, f"cannot call {fn.__name__} with these arguments: {exc}"
    out = []
    for name, p in sig.parameters.items():
        if name in bound.arguments:
            out.append(bound.arguments[name])
        else:
            out.append(constant(p.default))
    return out, None
