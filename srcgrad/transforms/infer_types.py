"""Numba's typing of the forward sweep, used only with jit=True.

``kinds.infer`` gives every value a type from the IR alone, and that is all the
generated code needs in plain Python.  Numba's typing can differ from NumPy's (a float32
array times a Python float is float64 in Numba, float32 in NumPy 2), and a typed stack
must hold exactly what Numba computes, so with jit this pass runs Numba's typing (no code
generation) on the forward sweep for the actual argument types, and its types win.

Typing runs under Numba's compiler lock, as Numba's own compiles do.  Typing takes the
typing context's call-stack lock and then, to compile an overload's implementation, the
compiler lock; a compile holds the compiler lock and then takes the call-stack lock.
Typing without the compiler lock inverts that order: threads mixing a jit compile and a
gradient of a loop deadlocked.
"""

from __future__ import annotations

import ast
import warnings

from srcgrad.transforms import emit as E
from srcgrad.transforms import types as T


def _numba_arg_type(kind_key):
    from numba.core import types
    kind, ndim, dtype = kind_key
    if kind == "float":
        return types.float32 if dtype == "float32" else types.float64
    if kind == "int":
        return types.int64
    if kind == "bool":
        return types.boolean
    if kind in ("array", "intarray"):
        return types.Array(getattr(types, dtype), ndim, "C")
    return None


def numba_types(forward: ast.FunctionDef, namespace: dict, kinds_key) -> dict:
    """SSA name -> ValueType Numba gives the values the forward sweep computes (None where
    it has no ValueType; empty on failure)."""
    try:
        from numba.core import compiler, typed_passes
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.registry import cpu_target

        import srcgrad.backends.numba  # noqa: F401  (typing of the runtime helpers)
    except ImportError:
        return {}
    argtypes = tuple(_numba_arg_type(k) for k in kinds_key)
    if any(t is None for t in argtypes):
        return {}
    source = E.unparse(E.module([forward]))
    try:
        with global_compiler_lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _infer(source, namespace, forward.name, argtypes, compiler, typed_passes, cpu_target)
    except Exception:                 # anything Numba cannot type: fall back to kinds
        return {}


def _infer(source, namespace, name, argtypes, compiler, typed_passes, cpu_target):
    probe = E.compile_source(source, dict(namespace), name, "types")
    typing_ctx = cpu_target.typing_context
    target_ctx = cpu_target.target_context
    typing_ctx.refresh()
    target_ctx.refresh()
    func_ir = compiler.run_frontend(probe)
    result = typed_passes.type_inference_stage(typing_ctx, target_ctx, func_ir, argtypes, None)
    return {name: from_numba(t) for name, t in result.typemap.items()
            if "." not in name and "$" not in name}


def from_numba(t) -> "T.ValueType | None":
    """The ValueType of a Numba type (Optional unwrapped), or None."""
    from numba.core import types
    if isinstance(t, types.Optional):
        inner = from_numba(t.type)
        return inner and T.replace(inner, optional=True)
    if isinstance(t, types.Boolean):
        return T.BOOL
    if isinstance(t, types.Integer):
        return T.I64
    if isinstance(t, types.Float):
        return T.scalar("float32" if t.bitwidth == 32 else "float64")
    if isinstance(t, types.Array):
        element = from_numba(t.dtype)
        if element is None:
            return None
        return T.array(element.dtype, t.ndim, "C" if t.layout == "C" else "A")
    if isinstance(t, types.List):
        return T.ValueType("list", item=from_numba(t.dtype))
    return None
