"""Rule instantiation: a registered rule, inlined at one call with that call's operands.

Both modes go through here.  `bind_operands` binds a call's arguments and keywords to
the primitive's parameters (defaults applied) and spells each as an expression;
`instantiate` inlines one rule (a vjp or a jvp) with its leading parameters (``g``,
``ans``, ``t``...) and the primitive's parameters replaced by those expressions: the body
of a single-expression lambda, or a call of the rule when it is not one.
"""

from __future__ import annotations

import ast
import builtins
import copy
import inspect

from srcgrad import ir
from srcgrad.errors import SrcgradError
from srcgrad.rules.registry import spelled
from srcgrad.transforms import emit as E
from srcgrad.transforms.parse import find_lambda

_LAMBDA_CACHE: dict[int, ast.Lambda | None] = {}
_SCOPED = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr)
_OPERANDS = (ir.Var, ir.Const, ir.Seq, ir.Slice, ir.Index)
SCALAR_KINDS = ("float", "int", "bool")

def _rule_lambda(rule):
    key = id(rule)
    if key not in _LAMBDA_CACHE:
        node = None
        if getattr(rule, "__name__", "") == "<lambda>":
            node = find_lambda(rule, ast)
        if node is not None and any(isinstance(n, _SCOPED) for n in ast.walk(node.body)):
            node = None              # names bound inside the body: call the rule instead
        _LAMBDA_CACHE[key] = node
    return _LAMBDA_CACHE[key]


class Substitute(ast.NodeTransformer):
    """Replace names by (copies of) expressions; ``resolve`` spells every other name."""

    def __init__(self, mapping, resolve):
        self.mapping = mapping
        self.resolve = resolve

    def visit_Name(self, node):
        if node.id in self.mapping:
            return copy.deepcopy(self.mapping[node.id])
        return self.resolve(node)


def inline_rule(rule, names, args: dict[str, ast.expr]) -> ast.expr:
    """The rule's body with its parameters replaced by ``args``, or a call to the rule."""
    node = _rule_lambda(rule)
    params = list(inspect.signature(rule).parameters)
    if node is None:
        ref = names.global_ref(rule, getattr(rule, "__name__", "rule").strip("<>") or "rule")
        return E.call(E.name(ref), [args[p] for p in params if p in args])
    closure = {}
    if rule.__closure__:
        closure = dict(zip(rule.__code__.co_freevars, (c.cell_contents for c in rule.__closure__)))

    def resolve(name_node):
        ident = name_node.id
        if ident in closure:
            obj = closure[ident]
        elif ident in rule.__globals__:
            obj = rule.__globals__[ident]
        else:
            obj = getattr(builtins, ident)
        if E.is_literal(obj):
            return E.const(obj)
        return E.name(names.global_ref(obj, ident))
    return Substitute(args, resolve).visit(copy.deepcopy(node.body))


def bind_operands(prim, s: ir.Call, names, exprs: dict) -> tuple[list, dict]:
    """(the primitive's parameter names, their bound operands); ``exprs`` receives each
    bound parameter's expression (entries already there for leading names stay unless a
    parameter has the same name)."""
    try:
        bound = prim.signature.bind(*s.args, **s.kwargs)
    except TypeError as exc:
        raise SrcgradError(f"cannot bind the arguments of {prim.name}: {exc}", s.loc, "call")
    bound.apply_defaults()
    for p, value in bound.arguments.items():
        exprs[p] = E.operand(value, names) if isinstance(value, _OPERANDS) else names.constant(value)
    return list(prim.signature.parameters), bound.arguments


def instantiate(rule, leading: list, params: list, exprs: dict, names, scalar=None) -> ast.expr:
    """Inline ``rule``: its parameters take, in order, the expressions of ``leading`` and
    then of ``params``.  ``scalar(node)`` tells which expressions are scalars, when the
    call maps scalars to a scalar: broadcasting helpers are then dropped."""
    rule_params = list(inspect.signature(rule).parameters)
    args = {rp: exprs[src] for rp, src in zip(rule_params, leading + params) if src in exprs}
    expr = inline_rule(rule, names, args)
    if scalar is not None:
        expr = Unbroadcast(scalar).visit(expr)
    return expr


def scalar_call(fn: ir.Function, s: ir.Call) -> bool:
    """Whether the call maps scalars to a scalar, so rules need no (un)broadcasting.

    A scalar result alone is not enough: ``unbroadcast(g, x)`` sums an array to one.
    """
    if fn.kinds.get(s.target) not in ("float", "int"):
        return False
    return all(fn.kinds.get(n) in SCALAR_KINDS for op in list(s.args) + list(s.kwargs.values())
               for n in ir.operand_vars(op))


def scalar_test(fn: ir.Function):
    """``node -> bool``: whether an operand expression of ``fn`` is a scalar."""
    def is_scalar(node) -> bool:
        if isinstance(node, ast.Name):
            return fn.kinds.get(node.id) in SCALAR_KINDS
        return isinstance(node, ast.Constant) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant))
    return is_scalar


class Unbroadcast(ast.NodeTransformer):
    """``unbroadcast(g, x)`` (and forward mode's ``broadcast_like(t, ans)``) is just its
    first argument when the result and the second argument are scalars."""

    HELPERS = ("unbroadcast", "broadcast_like")

    def __init__(self, is_scalar):
        self.is_scalar = is_scalar

    def visit_Call(self, node):
        self.generic_visit(node)
        if (isinstance(node.func, ast.Name) and node.func.id in self.HELPERS
                and len(node.args) == 2 and self.is_scalar(node.args[1])):
            return node.args[0]
        return node


class ReadVisitor(ast.NodeVisitor):
    """Names read by generated code; reads that need only a shape are kept apart."""

    def __init__(self):
        self.names = set()
        self.shapes = set()

    def visit_Call(self, node):
        skip = spelled(node.func.id).shape_only if isinstance(node.func, ast.Name) else ()
        self.visit(node.func)
        for i, a in enumerate(node.args):
            if i not in skip:
                self.visit(a)
            elif isinstance(a, ast.Name):
                self.shapes.add(a.id)
            else:
                self.visit(a)
        for kw in node.keywords:
            self.visit(kw.value)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self.names.add(node.id)


def instance_reads(expr: ast.expr) -> tuple[set, set]:
    """(names an instantiated rule reads for their value, names it reads only for a
    shape): which operands survive in a rule's body, and where, is known only once its
    template is instantiated (and its broadcasting helpers dropped for scalars)."""
    reader = ReadVisitor()
    reader.visit(expr)
    return reader.names, reader.shapes
