"""Emit: the only module that builds Python syntax nodes, and the one that compiles them.

Generated programs are built from the small constructors below as standard-library
``ast`` nodes, printed with ``ast.unparse`` and compiled under a real file name that is
registered in ``linecache``, so tracebacks and pdb show the generated lines.
"""

from __future__ import annotations

import ast
import hashlib
import linecache
import math
import operator

import numpy as np

from srcgrad import ir
from srcgrad.runtime import lists, tape

INFIX = {
    operator.add: ast.Add, operator.sub: ast.Sub, operator.mul: ast.Mult,
    operator.truediv: ast.Div, operator.floordiv: ast.FloorDiv, operator.mod: ast.Mod,
    operator.pow: ast.Pow, operator.matmul: ast.MatMult,
}
COMPARE = {
    operator.lt: ast.Lt, operator.le: ast.LtE, operator.gt: ast.Gt, operator.ge: ast.GtE,
    operator.eq: ast.Eq, operator.ne: ast.NotEq,
}
PREFIX = {operator.neg: ast.USub, operator.pos: ast.UAdd, operator.not_: ast.Not}


# ----------------------------------------------------------------------- expressions
def name(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Load())


def store_name(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Store())


def const(value) -> ast.expr:
    if isinstance(value, (bool, type(None), str)) or value is Ellipsis:
        return ast.Constant(value=value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return call(name("float"), [ast.Constant(value=repr(value))])
        if value < 0:
            return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-value))
        return ast.Constant(value=value)
    raise TypeError(f"not a literal: {value!r}")


def is_literal(value) -> bool:
    return isinstance(value, (bool, int, float, type(None), str)) or value is Ellipsis


def attr(value: ast.expr, attribute: str) -> ast.Attribute:
    return ast.Attribute(value=value, attr=attribute, ctx=ast.Load())


def dotted(path: str) -> ast.expr:
    parts = path.split(".")
    node = name(parts[0])
    for p in parts[1:]:
        node = attr(node, p)
    return node


def call(func: ast.expr | str, args, kwargs=None) -> ast.Call:
    if isinstance(func, str):
        func = dotted(func)
    keywords = [ast.keyword(arg=k, value=v) for k, v in (kwargs or {}).items()]
    return ast.Call(func=func, args=list(args), keywords=keywords)


def binop(op_cls, left, right) -> ast.BinOp:
    return ast.BinOp(left=left, op=op_cls(), right=right)


def add(left, right):
    return binop(ast.Add, left, right)


def sub(left, right):
    return binop(ast.Sub, left, right)


def mul(left, right):
    return binop(ast.Mult, left, right)


def compare(op_cls, left, right) -> ast.Compare:
    return ast.Compare(left=left, ops=[op_cls()], comparators=[right])


def negate(value):
    return ast.UnaryOp(op=ast.USub(), operand=value)


def not_(value):
    return ast.UnaryOp(op=ast.Not(), operand=value)


def tuple_(items, store=False) -> ast.Tuple:
    return ast.Tuple(elts=list(items), ctx=ast.Store() if store else ast.Load())


def list_(items) -> ast.List:
    return ast.List(elts=list(items), ctx=ast.Load())


def subscript(value, index: ast.expr, store=False) -> ast.Subscript:
    return ast.Subscript(value=value, slice=index, ctx=ast.Store() if store else ast.Load())


def slice_(lower, upper, step) -> ast.Slice:
    return ast.Slice(lower=lower, upper=upper, step=step)


# ----------------------------------------------------------------------- statements
def assign(target: str | ast.expr, value: ast.expr) -> ast.Assign:
    if isinstance(target, str):
        target = store_name(target)
    return ast.Assign(targets=[target], value=value, lineno=0)


def assign_many(targets: list[str], values: list[ast.expr]) -> ast.stmt:
    """``a, b = x, y`` (simultaneous, so permutations such as swaps are safe)."""
    if len(targets) == 1:
        return assign(targets[0], values[0])
    return ast.Assign(targets=[tuple_([store_name(t) for t in targets], store=True)],
                      value=tuple_(values), lineno=0)


def aug_add(target: ast.expr, value: ast.expr) -> ast.AugAssign:
    if isinstance(target, ast.Name):
        target = store_name(target.id)
    elif isinstance(target, ast.Subscript):
        target = subscript(target.value, target.slice, store=True)
    return ast.AugAssign(target=target, op=ast.Add(), value=value)


def expr_stmt(value: ast.expr) -> ast.Expr:
    return ast.Expr(value=value)


def if_(test, body, orelse=None) -> ast.If:
    return ast.If(test=test, body=body or [ast.Pass()], orelse=orelse or [])


def for_range(target: str, range_args: list[ast.expr], body) -> ast.For:
    return ast.For(target=store_name(target), iter=call(name("range"), range_args),
                   body=body or [ast.Pass()], orelse=[], lineno=0)


def while_(test, body) -> ast.While:
    return ast.While(test=test, body=body or [ast.Pass()], orelse=[])


def pass_() -> ast.Pass:
    return ast.Pass()


def break_() -> ast.Break:
    return ast.Break()


def return_(value) -> ast.Return:
    return ast.Return(value=value)


def function(fn_name: str, params: list[str], body, docstring: str | None = None) -> ast.FunctionDef:
    args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=p) for p in params], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    stmts = ([expr_stmt(ast.Constant(value=docstring))] if docstring else []) + list(body)
    return ast.FunctionDef(name=fn_name, args=args, body=stmts, decorator_list=[], returns=None,
                           type_params=[], lineno=0)


def module(body) -> ast.Module:
    mod = ast.Module(body=[_SlicesAsValues().visit(b) for b in body], type_ignores=[])
    return ast.fix_missing_locations(mod)


class _SlicesAsValues(ast.NodeTransformer):
    """``a:b:c`` is syntax only directly inside ``x[...]`` (alone or in its index tuple);
    anywhere else (``add_at(dx, (i, ::2), g)``) it must be the value ``slice(a, b, c)``.

    An index is built once and may be shared by a subscript and a call, so tuples and
    slices are rebuilt, never changed in place.
    """

    def visit_Subscript(self, node):
        node.value = self.visit(node.value)
        index = node.slice
        if isinstance(index, ast.Tuple):
            node.slice = ast.Tuple([self._syntax(e) for e in index.elts], index.ctx)
        else:
            node.slice = self._syntax(index)
        return node

    def _syntax(self, part):
        if isinstance(part, ast.Slice):
            return ast.Slice(*[None if p is None else self.visit(p)
                               for p in (part.lower, part.upper, part.step)])
        return self.visit(part)

    def visit_Tuple(self, node):
        return ast.Tuple([self.visit(e) for e in node.elts], node.ctx)

    def visit_Slice(self, node):
        parts = [node.lower, node.upper] + ([node.step] if node.step is not None else [])
        return call(name("slice"), [const(None) if p is None else self.visit(p) for p in parts])


# ----------------------------------------------------------------------- IR operands
def operand(op, names) -> ast.expr:
    """An IR operand as an expression; ``names`` maps SSA names and constants to spellings."""
    if isinstance(op, ir.Var):
        return name(names.var(op.name))
    if isinstance(op, ir.Const):
        return names.constant(op.value)
    if isinstance(op, ir.Seq):
        items = [operand(i, names) for i in op.items]
        return list_(items) if op.kind == "list" else tuple_(items)
    if isinstance(op, ir.Slice):
        return slice_(*[None if p is None else operand(p, names) for p in (op.lower, op.upper, op.step)])
    if isinstance(op, ir.Index):
        parts = [const(p) if (p is None or p is Ellipsis) else operand(p, names) for p in op.parts]
        return parts[0] if len(parts) == 1 else tuple_(parts)
    raise TypeError(f"unknown operand {op!r}")


def primal_call(stmt: ir.Call, names) -> ast.expr:
    """The expression computing a primitive call, infix where Python has an operator."""
    args = [operand(a, names) for a in stmt.args]
    kwargs = {k: operand(v, names) for k, v in stmt.kwargs.items()}
    fn = stmt.fn
    if not kwargs:
        if fn in INFIX and len(args) == 2:
            return binop(INFIX[fn], *args)
        if fn in COMPARE and len(args) == 2:
            return compare(COMPARE[fn], *args)
        if fn in PREFIX and len(args) == 1:
            return ast.UnaryOp(op=PREFIX[fn](), operand=args[0])
        if fn is operator.and_ and len(args) == 2:
            return ast.BoolOp(op=ast.And(), values=args)
        if fn is tape.stack and not args:
            return ast.List(elts=[], ctx=ast.Load())       # a new list: ``[]``
        if fn is lists.item and len(args) == 2:
            return subscript(*args)
    return call(names.function(fn, stmt.fn_name), args, kwargs)


# ----------------------------------------------------------------------- compile
def unparse(node) -> str:
    return ast.unparse(ast.fix_missing_locations(node))


def compile_source(source: str, namespace: dict, fn_name: str, tag: str):
    """Execute generated source under a linecache-registered file name; return ``fn_name``."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"<srcgrad {tag} {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec")
    exec(code, namespace)
    fn = namespace[fn_name]
    fn.__srcgrad_source__ = source
    return fn


__all__ = ["np"]
