"""Values of the lowering environment that are not IR operands, and small helpers on them.

The environment maps a user's name to an IR operand, a Python tuple of them (a tuple's
structure is known now), a container (see ``containers``), a ``LocalFunction`` (a nested
``def`` or ``lambda``, inlined at each call) or a ``NamespaceValue`` (a module, function
or array from the function's namespace); ``UNDEF`` stands for "unbound on this path".
"""

from __future__ import annotations

from dataclasses import dataclass

import gast

from srcgrad import ir


def rebound_names(loop) -> set:
    """Names a loop's body (or header) assigns as a whole (not through a subscript; an
    augmented assignment updates an iterable array in place)."""
    augmented = {id(n.target) for n in gast.walk(loop) if isinstance(n, gast.AugAssign)}
    return {n.id for n in gast.walk(loop) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Store) and id(n) not in augmented}


def reads_value(body, name) -> bool:
    """Whether any statement of ``body`` (nested ones included) reads the value ``name``."""
    for stmt in ir.walk(body):
        operands = ir.used_operands(stmt)
        if isinstance(stmt, ir.If):
            operands += list(stmt.then_yields) + list(stmt.else_yields)
        elif isinstance(stmt, (ir.For, ir.While)):
            operands += list(stmt.yields)
        if any(name in ir.operand_vars(op) for op in operands):
            return True
    return False


def computes_with(body, name) -> bool:
    """Whether the value ``name`` reaches an operation in ``body``: read by a call, an
    index or a store, not only carried on by loops and merged by branches (a stale alias
    handed on unread is harmless; ``lookup`` refuses it where it is read later)."""
    names, changed = {name}, True
    while changed:                      # the values it is handed on as
        changed = False
        for stmt in ir.walk(body):
            if isinstance(stmt, (ir.For, ir.While)):
                pairs = [(o, (i, y)) for o, i, y in zip(stmt.outs, stmt.inits, stmt.yields)]
                pairs += [(c, (i, y)) for c, i, y in zip(stmt.carried, stmt.inits, stmt.yields)]
            elif isinstance(stmt, ir.If):
                pairs = [(o, (t, e)) for o, t, e in zip(stmt.outs, stmt.then_yields, stmt.else_yields)]
            else:
                continue
            for out, given in pairs:
                if out not in names and any(isinstance(v, ir.Var) and v.name in names for v in given):
                    names.add(out)
                    changed = True
    for stmt in ir.walk(body):
        operands = ir.used_operands(stmt)
        if isinstance(stmt, (ir.For, ir.While)):
            operands = [op for op in operands if not any(op is i for i in stmt.inits)]
        if isinstance(stmt, ir.While):
            operands.append(stmt.cond)
        if any(n in names for op in operands for n in ir.operand_vars(op)):
            return True
    return False


class Restructure(Exception):
    """A loop-carried value (``carried``, None before the loop) became a tuple of this
    ``shape`` in the body: the loop that carries it is lowered again, item by item."""

    def __init__(self, carried, shape):
        super().__init__(carried)
        self.carried = carried
        self.shape = shape


def tuple_shape(value):
    """The structure of a (nested) tuple, with None for each leaf."""
    return tuple(tuple_shape(v) for v in value) if isinstance(value, tuple) else None


def tuple_leaves(value) -> list:
    if isinstance(value, tuple):
        return [leaf for v in value for leaf in tuple_leaves(v)]
    return [value]


def leaf_count(shape) -> int:
    return 1 if shape is None else sum(leaf_count(s) for s in shape)


def rebuild_tuple(shape, leaves):
    """The tuple of structure ``shape`` holding ``leaves`` in order."""
    leaves = iter(leaves)

    def build(s):
        return next(leaves) if s is None else tuple(build(x) for x in s)
    return build(shape)


def is_none(op) -> bool:
    return isinstance(op, ir.Const) and op.value is None


class Undefined:
    def __repr__(self):
        return "<undefined>"


UNDEF = Undefined()
MISSING = object()


@dataclass
class LocalFunction:
    """A function defined inside the differentiated one (``def`` or ``lambda``), in the
    body of the function lowered at inlining ``frame`` (0: the differentiated one)."""

    node: object
    frame: int = 0


@dataclass
class Pullback:
    """The pullback ``srcgrad.vjp(fn, *primals)`` returned inside differentiated code:
    each call is the adjoint of ``fn`` at ``primals``, lowered in place."""

    fn: object
    primals: tuple
    function_of: object          # (fn, kinds) -> plain function of (*primals, cotangent)


@dataclass
class NamespaceValue:
    """A non-numeric object from the function's namespace (module, function, array...)."""

    value: object
    name: str | None


def join_kinds(a, b):
    if a == b:
        return a
    if {a, b} <= {"int", "bool"}:
        return "int"
    return None


def base_name(op):
    name = op.name
    head, _, tail = name.rpartition("_")
    return head if tail.isdigit() and head else name


def target_hint(target):
    return target.id if isinstance(target, gast.Name) else None


def short_name(fn):
    name = getattr(fn, "__name__", "t")
    name = {"add": "tmp", "sub": "tmp", "mul": "tmp", "truediv": "tmp", "neg": "tmp",
            "pow": "tmp", "matmul": "tmp", "floordiv": "tmp", "mod": "tmp", "pos": "tmp",
            "sum": "total", "max": "largest", "min": "smallest", "abs": "magnitude",
            "len": "n"}.get(name, name)
    return name if name.isidentifier() else "tmp"


def opsym(op):
    return {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.Pow: "**",
            gast.MatMult: "@", gast.FloorDiv: "//", gast.Mod: "%"}.get(type(op), "?")

