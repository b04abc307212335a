"""The tables lowering reads: Python syntax -> the function that defines it, refused
constructs with their advice, and the names generated code binds.

Facts about primitives (allocators, fresh results, views, int-preserving, elementwise,
reductions...) live on their registry records (``registry.facts``), declared beside their
rules; the kind and rank of a call's result come from ``types.evaluate``.
"""

from __future__ import annotations

import operator

import gast
import numpy as np


BINOPS = {
    gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
    gast.Div: operator.truediv, gast.FloorDiv: operator.floordiv, gast.Mod: operator.mod,
    gast.Pow: operator.pow, gast.MatMult: operator.matmul,
}
CMPOPS = {
    gast.Lt: operator.lt, gast.LtE: operator.le, gast.Gt: operator.gt, gast.GtE: operator.ge,
    gast.Eq: operator.eq, gast.NotEq: operator.ne,
}
UNARY = {gast.USub: operator.neg, gast.UAdd: operator.pos, gast.Not: operator.not_}

# x.method(...) -> numpy function(x, ...)
METHODS = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "var": np.var, "std": np.std, "dot": np.dot, "reshape": np.reshape, "ravel": np.ravel,
    "flatten": np.ravel, "copy": np.copy, "transpose": np.transpose, "squeeze": np.squeeze,
    "cumsum": np.cumsum, "clip": np.clip, "trace": np.trace,
}
ATTRIBUTES = {"T": np.transpose, "shape": np.shape, "size": np.size, "ndim": np.ndim}
# statements refused by lowering: gast class name -> (construct, what to do instead)
UNSUPPORTED_STATEMENTS = {
    "With": ("with", "move the 'with' block out of the differentiated function (for "
                     "np.errstate, set np.seterr around the call) and differentiate its body"),
    "AsyncWith": ("async with", "differentiate a plain function without 'async'"),
    "Try": ("try", "exceptions cannot be differentiated through; use an if instead of "
                   "try/except, testing the condition (if np.all(x > 0): ... else: ...)"),
    "TryStar": ("try", "exceptions cannot be differentiated through; use an if instead of "
                       "try/except*, testing the condition"),
    "Raise": ("raise", "check the inputs before calling the derivative (an exception has "
                       "no derivative); an assert is accepted, but skipped as with python -O"),
    "Global": ("global", "pass the value as a parameter or read it without 'global' (reading "
                         "a module-level name needs no declaration; assigning one is a side "
                         "effect the derivative cannot replay)"),
    "Nonlocal": ("nonlocal", "pass the value as a parameter and return the new value"),
    "Delete": ("del", "remove the 'del'; let the name go out of scope (or rebind it)"),
    "Import": ("import", "move the import to module level"),
    "ImportFrom": ("import", "move the import to module level"),
    "ClassDef": ("class", "define the class at module level"),
    "AsyncFunctionDef": ("async def", "define the nested function with a plain 'def'"),
    "AsyncFor": ("async for", "use a plain for loop"),
    "Match": ("match", "write the cases as if/elif/else"),
    "AnnAssign": ("annotated assignment", "drop the annotation (x = ... instead of "
                                          "x: float = ...)"),
}
UNSUPPORTED_EXPRESSIONS = {
    "NamedExpr": ("assignment expression :=", "assign the value on its own line first "
                                              "(y = ...), then use y"),
    "Yield": ("yield", "return the value instead"),
    "YieldFrom": ("yield from", "return the value instead"),
    "Await": ("await", "differentiate a plain function without 'async'"),
    "JoinedStr": ("f-string", "pass the values as separate arguments: print(\"x =\", x)"),
    "Starred": ("*", "pass the items one by one, or pass the container itself"),
}


# names the generated module binds; SSA values never take them
GENERATED_GLOBALS = {"np", "math", "operator", "range", "len", "float", "int", "abs", "min",
                     "max", "sum", "zeros_like", "unbroadcast", "stack", "reversed_range",
                     "add_at", "copy_value", "seed", "value", "slice", "pow", "round", "bool"}
# builtins that act on containers at transform time
CONTAINER_BUILTINS = (len, sum, dict, list, tuple, enumerate, zip)
_MODULE_NAMES = {"numpy": "np", "math": "math", "operator": "operator", "builtins": ""}


def _numpy_spelling(fn, module: str, name: str) -> str:
    """``np.sum``, or ``np.fft.fft`` for a function of a public NumPy submodule."""
    if getattr(np, name, None) is fn:
        return f"np.{name}"
    path = [part for part in module.split(".")[1:] if not part.startswith("_")]
    owner = np
    for part in path:
        owner = getattr(owner, part, None)
    if owner is not None and getattr(owner, name, None) is fn:
        return ".".join(["np"] + path + [name])
    return f"np.{name}"


def spell(fn) -> str:
    """How generated code names a primitive: ``np.sin``, ``math.exp``, ``abs``."""
    name = getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", None) or ""
    if isinstance(fn, np.ufunc):            # NumPy's, or another library's (scipy.special)
        return f"np.{name}" if getattr(np, name, None) is fn else name
    if module.startswith("numpy.linalg"):
        return f"np.linalg.{name}"
    if module.startswith("numpy"):
        return _numpy_spelling(fn, module, name)
    if module in _MODULE_NAMES:
        prefix = _MODULE_NAMES[module]
        return f"{prefix}.{name}" if prefix else name
    return name
