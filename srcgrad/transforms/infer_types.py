"""Infer types: ask Numba's type inference what every SSA value of the primal is.

The reverse sweep must know the type of each value it records (a tape of float64 is not
a tape of arrays; Numba cannot type an empty list), and knowing which values are scalars
lets the generated code skip broadcasting helpers.  Lowering infers simple kinds itself;
this pass runs Numba's typing (no code generation) on the forward sweep for the actual
argument types and fills in the rest.  Without Numba, or if Numba cannot type the
function, lowering's kinds are all there is.

Typing runs under Numba's compiler lock, as Numba's own compiles do.  Typing takes the
typing context's call-stack lock and then, to compile an overload's implementation, the
compiler lock; a compile holds the compiler lock and then takes the call-stack lock.
Typing without the compiler lock inverts that order: threads mixing a jit compile and a
gradient of a loop deadlocked.
"""

from __future__ import annotations

import ast
import warnings

from srcgrad import ir
from srcgrad.transforms import emit as E


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


def needs_types(fn: ir.Function) -> bool:
    """Only loops record values; straight-line code keeps lowering's kinds (and compiles fast)."""
    return any(isinstance(s, (ir.For, ir.While)) for s in ir.walk(fn.body))


def numba_types(forward: ast.FunctionDef, namespace: dict, kinds_key) -> dict:
    """SSA name -> Numba type of the values the forward sweep computes (empty on failure)."""
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
    return {name: t for name, t in result.typemap.items() if "." not in name and "$" not in name}


def refine_kinds(fn: ir.Function, typemap: dict) -> None:
    """Record scalars, integers and array ranks Numba found where lowering did not know."""
    from numba.core import types
    for name, t in typemap.items():
        if name not in fn.user_names and name not in fn.params:
            continue
        known = fn.kinds.get(name)
        if known in ("buffer", "shape"):
            continue
        if isinstance(t, types.Boolean):
            fn.kinds[name] = "bool"
        elif isinstance(t, types.Integer):
            fn.kinds[name] = "int"
        elif isinstance(t, types.Float):
            fn.kinds[name] = "float"
        elif isinstance(t, types.Array) and known is None:
            fn.kinds[name] = "array"
            fn.ndims.setdefault(name, t.ndim)


def tape_suffix(t) -> str | None:
    """The stack constructor suffix for a Numba type: ``f64``, ``i64``, ``f64_2d``..."""
    from numba.core import types
    if isinstance(t, types.Boolean):
        return "bool"
    if isinstance(t, types.Integer):
        return "i64"
    if isinstance(t, types.Float):
        return "f32" if t.bitwidth == 32 else "f64"
    if isinstance(t, types.Array) and 1 <= t.ndim <= 3:
        element = tape_suffix(t.dtype)
        return f"{element}_{t.ndim}d" if element else None
    if isinstance(t, types.List):
        element = tape_suffix(t.dtype)
        return f"list_{element}" if element and not element.startswith("list") else None
    return None


def dummy_value(t):
    """A value of Numba type ``t`` (unwrapping Optional) for a name that is not bound yet.

    Python would raise NameError if such a name were read before being assigned, so any
    value of the right type keeps the program's meaning while giving Numba one type.
    """
    from numba.core import types
    if isinstance(t, types.Optional):
        t = t.type
    if isinstance(t, types.Boolean):
        return E.const(False)
    if isinstance(t, types.Integer):
        return E.const(0)
    if isinstance(t, types.Float):
        return E.const(0.0)
    if isinstance(t, types.Array):
        dtype = {"float64": "float64", "float32": "float32", "int64": "int64", "bool": "bool_"}.get(str(t.dtype))
        if dtype:
            return E.call("np.empty", [E.tuple_([E.const(0)] * t.ndim)], {"dtype": E.dotted(f"np.{dtype}")})
    return None
