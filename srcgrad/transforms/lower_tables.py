"""The tables lowering reads: Python syntax -> the function that defines it, refused
constructs with their advice, and the facts about primitives that lowering needs
(allocators, fresh results, views, int-preserving, elementwise, reductions...).

Each table is defined once, here.  The primitive facts are meant to become flags of the
registry's ``Primitive`` record (issue 13, item 1); until then this is their one home.
"""

from __future__ import annotations

import math
import operator

import gast
import numpy as np

from srcgrad.runtime import broadcast as broadcast_rt
from srcgrad.runtime import lists as lists_rt
from srcgrad.runtime import tape as tape_rt

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

# functions whose result is a fresh array the function may write in place
ALLOCATORS = {id(f) for f in (np.copy, np.zeros, np.empty, np.zeros_like, np.empty_like,
                              np.ones, np.ones_like, np.full, np.full_like, np.array,
                              broadcast_rt.zeros_like, tape_rt.hist_f64, tape_rt.hist_f32,
                              tape_rt.hist_i64, tape_rt.hist_bool)}
# functions whose array result is always a new array (never one of their operands or a view)
FRESH_RESULT = {id(f) for f in (operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow, operator.neg, operator.pos, operator.mod,
                                operator.floordiv, operator.matmul, np.dot, np.outer, np.cumsum,
                                np.cumprod, np.concatenate, np.stack, np.where, np.clip, np.sum,
                                np.mean, np.prod, np.max, np.min, np.var, np.std, np.diff)}
# functions returning a new, empty list (the stacks of generated derivative code)
LIST_CONSTRUCTORS = {id(f) for f in [tape_rt.stack] + [getattr(tape_rt, f"stack_{s}")
                                                       for s in tape_rt.TAPE_TYPES]}
INT_PRESERVING = {id(f) for f in (operator.add, operator.sub, operator.mul, operator.floordiv,
                                  operator.mod, operator.neg, operator.pos, abs, min, max)}
INT_RESULT = {id(f) for f in (len, int, round, np.size, np.ndim, math.floor, math.ceil)}
BOOL_RESULT = {id(f) for f in list(CMPOPS.values()) + [operator.not_, bool]}

# names the generated module binds; SSA values never take them
GENERATED_GLOBALS = {"np", "math", "operator", "range", "len", "float", "int", "abs", "min",
                     "max", "sum", "zeros_like", "unbroadcast", "stack", "reversed_range",
                     "add_at", "copy_value", "seed", "value", "slice", "pow", "round", "bool"}
INFIX_ELEMENTWISE = (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
                     operator.neg, operator.pos, operator.mod, operator.floordiv)
SCALAR_REDUCTIONS = (np.sum, np.mean, np.prod, np.max, np.min, np.var, np.std)
# functions whose result is a view of their first operand
VIEW_RESULT = (np.transpose, np.reshape, np.ravel, np.squeeze, np.expand_dims)
# allocators whose result has the shape of their first operand
LIKE_ALLOCATORS = (np.copy, np.zeros_like, np.empty_like, np.ones_like, np.full_like, np.array,
                   broadcast_rt.zeros_like)
# functions returning a float when their operands are scalars
FLOAT_ON_SCALARS = (operator.truediv, operator.pow, pow, float, np.sqrt, np.exp, np.log,
                    np.sin, np.cos, np.tanh, np.abs)
# NumPy functions that take a list as a sequence of pieces -> the reader of a run-time list
SEQUENCE_READERS = {id(np.stack): lists_rt.stack_items, id(np.array): lists_rt.stack_items,
                    id(np.asarray): lists_rt.stack_items,
                    id(np.concatenate): lists_rt.concatenate_items}
# elementwise functions whose result has the largest rank of their operands (settle_ranks)
RANK_ELEMENTWISE = {operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
                    operator.neg, operator.pos, operator.mod, operator.floordiv, abs, np.where,
                    np.clip}
# builtins that act on containers at transform time
CONTAINER_BUILTINS = (len, sum, dict, list, tuple, enumerate, zip)
# constant operands of these are folded (int, bool, str and None values only)
FOLDABLE = {id(f): f for f in (operator.add, operator.sub, operator.mul, operator.floordiv,
                               operator.mod, operator.neg, operator.pos, operator.not_,
                               operator.eq, operator.ne, operator.lt, operator.le,
                               operator.gt, operator.ge, operator.and_, operator.or_,
                               len, min, max, abs)}
_MODULE_NAMES = {"numpy": "np", "math": "math", "operator": "operator", "builtins": ""}


def spell(fn) -> str:
    """How generated code names a primitive: ``np.sin``, ``math.exp``, ``abs``."""
    name = getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", None) or ""
    if isinstance(fn, np.ufunc):
        return f"np.{fn.__name__}"
    if module.startswith("numpy.linalg"):
        return f"np.linalg.{name}"
    if module.startswith("numpy"):
        return f"np.{name}"
    if module in _MODULE_NAMES:
        prefix = _MODULE_NAMES[module]
        return f"{prefix}.{name}" if prefix else name
    return name
