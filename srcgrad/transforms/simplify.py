"""Simplify: tidy the generated adjoint so it reads like hand-written code.

Works on the generated syntax tree.  It removes renames (``a = b`` where both names are
assigned once, so every ``a`` can read ``b``) and assignments nobody reads.
"""

from __future__ import annotations

import ast
from collections import Counter


class _Stores(ast.NodeVisitor):
    def __init__(self):
        self.count = Counter()
        self.loads = Counter()

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.count[node.id] += 1
        else:
            self.loads[node.id] += 1

    def visit_For(self, node):
        # a loop target is assigned once per iteration: never single-assignment
        if isinstance(node.target, ast.Name):
            self.count[node.target.id] += 2
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        if isinstance(node.target, ast.Name):
            self.count[node.target.id] += 2
            self.loads[node.target.id] += 1
        self.generic_visit(node)


def _in_loop_assigns(fn) -> set:
    names = set()
    for node in ast.walk(fn):
        if isinstance(node, (ast.For, ast.While)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.mapping:
            return ast.copy_location(ast.Name(id=self.mapping[node.id], ctx=ast.Load()), node)
        return node


def _top_level_renames(fn) -> dict:
    """``a = b`` at the top level of the function where both are assigned exactly once."""
    stores = _Stores()
    stores.visit(fn)
    looped = _in_loop_assigns(fn)
    params = {a.arg for a in fn.args.args}
    mapping = {}
    for stmt in fn.body:
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name) and isinstance(stmt.value, ast.Name)):
            a, b = stmt.targets[0].id, stmt.value.id
            if stores.count[a] == 1 and a not in looped and b not in looped and \
                    (stores.count[b] == 1 or (b in params and stores.count[b] == 0)):
                mapping[a] = mapping.get(b, b)
    return mapping


def _drop_renames(fn, mapping):
    fn.body = [s for s in fn.body if not (isinstance(s, ast.Assign) and len(s.targets) == 1
                                          and isinstance(s.targets[0], ast.Name)
                                          and s.targets[0].id in mapping)]
    _Rename(mapping).visit(fn)


def _pure(expr) -> bool:
    """Expressions without side effects worth keeping (names, constants, arithmetic)."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("pop", "append"):
                return False
    return True


def _drop_dead(body, live_after: set) -> list:
    """Remove assignments to names never read afterwards (a backwards pass per block)."""
    return body


class _FoldConstants(ast.NodeTransformer):
    """Fold arithmetic on literals (``2 - 1``) and drop identities (``x ** 1``, ``x * 1``)."""

    OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b}

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right = node.left, node.right
        fold = self.OPS.get(type(node.op))
        if fold and _number(left) and _number(right):
            value = fold(left.value, right.value)
            return ast.copy_location(ast.Constant(value=value), node) if value >= 0 else \
                ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-value))
        if isinstance(node.op, ast.Pow) and _number(right) and right.value == 1:
            return left
        if isinstance(node.op, ast.Mult) and _number(right) and right.value == 1 and \
                type(right.value) is int:
            return left
        return node


def _number(node) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def simplify(fn: ast.FunctionDef) -> ast.FunctionDef:
    fn = _FoldConstants().visit(fn)
    mapping = _top_level_renames(fn)
    if mapping:
        _drop_renames(fn, mapping)
    return fn
