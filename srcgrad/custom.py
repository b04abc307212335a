"""Custom derivatives in PyTorch's convention, and stop_gradient.

``class Op(srcgrad.Function)`` with static ``forward(ctx, *args)`` and
``backward(ctx, grad_output)``; ``Op.apply(...)`` inside a differentiated function makes
the op a primitive.  The adjoint program re-runs ``forward`` on the same inputs to rebuild
``ctx`` right before calling ``backward``: nothing is kept between the sweeps, so an
exception or a repeated pullback can never pair a backward with the wrong forward.
"""

from __future__ import annotations

import numpy as np

from srcgrad.errors import SrcgradError
from srcgrad.rules import registry
from srcgrad.runtime.twins import numba_twin


class Context:
    """What ``forward`` leaves for ``backward``: saved tensors and any attributes."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *values):
        self.saved_tensors = tuple(values)


class Function:
    """Base class of user-defined differentiable operations (see the module docstring)."""

    @staticmethod
    def forward(ctx, *args):
        raise SrcgradError("a srcgrad.Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, grad_output):
        raise SrcgradError("a srcgrad.Function subclass must define backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args):
        """Run the operation (outside differentiated code this is just ``forward``)."""
        return cls.forward(Context(), *args)


class FunctionPrimitive:
    """The primitive standing for ``cls.apply`` in generated code."""

    def __init__(self, cls):
        self.cls = cls
        self.__name__ = f"{cls.__name__}_apply"
        self.__qualname__ = self.__name__

    def __call__(self, *args):
        return self.cls.forward(Context(), *args)

    def vjp(self, g, ans, *args):
        """Every input's cotangent from ``backward`` (None becomes zeros), checked."""
        ctx = Context()
        self.cls.forward(ctx, *args)
        grads = self.cls.backward(ctx, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        name = self.cls.__name__
        if len(grads) != len(args):
            raise SrcgradError(f"{name}.backward returned {len(grads)} value(s), but forward "
                               f"takes {len(args)} input(s): return one per input (None for "
                               f"inputs without a gradient)", construct=name)
        out = []
        for k, (grad, arg) in enumerate(zip(grads, args)):
            if grad is None:
                out.append(np.zeros_like(arg) if isinstance(arg, np.ndarray) else 0.0)
                continue
            if np.shape(grad) != np.shape(arg):
                raise SrcgradError(f"{name}.backward returned a gradient of shape "
                                   f"{np.shape(grad)} for input {k}, which has shape "
                                   f"{np.shape(arg)}", construct=name)
            out.append(grad)
        return tuple(out)


_PRIMITIVES: dict = {}


def function_primitive(cls) -> FunctionPrimitive:
    """The (registered) primitive for a Function subclass, made once per class."""
    prim = _PRIMITIVES.get(cls)
    if prim is None:
        prim = _PRIMITIVES[cls] = FunctionPrimitive(cls)
        registry.defvjp_joint(prim, prim.vjp, name=f"{cls.__name__}.apply")
    return prim


def is_function_apply(obj) -> bool:
    """Whether ``obj`` is ``SomeFunction.apply`` for a subclass of Function."""
    owner = getattr(obj, "__self__", None)
    return (isinstance(owner, type) and issubclass(owner, Function) and owner is not Function
            and getattr(obj, "__func__", None) is Function.apply.__func__)


def stop_gradient(x):
    """``x`` itself, but no derivative flows through it."""
    return x


registry.defnondiff(stop_gradient, name="srcgrad.stop_gradient")


@numba_twin(stop_gradient, inline="always")
def _stop_gradient_numba(x):
    return lambda x: x                   # the value itself; lowering made it inactive
