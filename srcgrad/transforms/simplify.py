"""Simplify: tidy the generated adjoint so it reads like hand-written code.

Works on the generated syntax tree: folds arithmetic on literals (``2 - 1``) and
identities (``x ** 1``), removes renames (``a = b`` at the top level where both names are
assigned once, so every ``a`` can read ``b``) and drops assignments nobody reads.
"""

from __future__ import annotations

import ast
from collections import Counter

import numpy as np

from srcgrad.rules.registry import facts
from srcgrad.transforms import emit as E
from srcgrad.transforms.naming import stem


class _FoldConstants(ast.NodeTransformer):
    """Fold arithmetic on literals and drop ``x ** 1`` and ``x * 1``."""

    OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b}

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right = node.left, node.right
        fold = self.OPS.get(type(node.op))
        if fold and _number(left) and _number(right):
            return E.const(fold(left.value, right.value))
        if isinstance(node.op, ast.Pow) and _number(right) and right.value == 1:
            return left
        if isinstance(node.op, ast.Mult) and _number(right) and right.value == 1 and \
                type(right.value) is int:
            return left
        return node


# keywords of NumPy reductions whose value is the default: spelled out by rules, dropped
# from the output (shorter, and Numba's versions of these functions do not accept them)
_DEFAULT_KEYWORDS = {("axis", None), ("keepdims", False)}


class _DropDefaultKeywords(ast.NodeTransformer):
    """``np.sum(t, axis=None, keepdims=False)`` -> ``np.sum(t)``."""

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                func.value.id == "np" and facts(getattr(np, func.attr, None)).reduction:
            node.keywords = [kw for kw in node.keywords
                             if not (isinstance(kw.value, ast.Constant) and
                                     (kw.arg, kw.value.value) in _DEFAULT_KEYWORDS and
                                     type(kw.value.value) is not int)]
        return node


def _number(node) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _counts(fn):
    """How often each name is assigned and read anywhere in ``fn``."""
    stores, loads = Counter(), Counter()
    for node in ast.walk(fn):
        if isinstance(node, ast.Name):
            (stores if isinstance(node.ctx, ast.Store) else loads)[node.id] += 1
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            stores[node.target.id] += 1      # once per iteration: never single-assignment
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            stores[node.target.id] += 1
            loads[node.target.id] += 1
    return stores, loads


def _assigned_in_loops(fn) -> set:
    names = set()
    for node in ast.walk(fn):
        if isinstance(node, (ast.For, ast.While)):
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.mapping:
            return E.name(self.mapping[node.id])
        return node


def _single_target(stmt):
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    return None


def _remove_renames(fn):
    """Replace ``a`` by ``b`` after a top-level ``a = b`` when neither is ever reassigned."""
    stores, _ = _counts(fn)
    looped = _assigned_in_loops(fn)
    params = {a.arg for a in fn.args.args}
    mapping = {}
    for stmt in fn.body:
        a = _single_target(stmt)
        if a is None or not isinstance(stmt.value, ast.Name):
            continue
        b = stmt.value.id
        if stores[a] == 1 and a not in looped and b not in looped and \
                (stores[b] == 1 or (b in params and stores[b] == 0)):
            mapping[a] = mapping.get(b, b)
    if mapping:
        fn.body = [s for s in fn.body if _single_target(s) not in mapping]
        _Rename(mapping).visit(fn)


class _Constants(ast.NodeTransformer):
    """Loads of names replaced by the number constants they were assigned once."""

    def __init__(self, values):
        self.values = values

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            return ast.copy_location(E.const(self.values[node.id]), node)
        return node


def _propagate_constants(fn):
    """``tmp = 0.02`` (a callee's ``0.5 * h`` folded): when every assignment of a name
    assigns the same number, its reads read the number, wherever they are."""
    stores, _ = _counts(fn)
    found: dict = {}
    for node in ast.walk(fn):
        name = _single_target(node) if isinstance(node, ast.Assign) else None
        if name is not None and _number(node.value):
            found.setdefault(name, []).append(node.value.value)
    values = {name: vs[0] for name, vs in found.items()
              if len(vs) == stores[name] and all(type(v) is type(vs[0]) and v == vs[0] for v in vs)}
    if values:
        _Constants(values).visit(fn)
        _drop_dead(fn)


def _loads(node, name) -> int:
    return sum(1 for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == name
               and isinstance(n.ctx, ast.Load))


def _stores(node, name) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store):
            return True
        if isinstance(n, (ast.AugAssign, ast.For)) and isinstance(getattr(n, "target", None), ast.Name) \
                and n.target.id == name:
            return True
    return False


def _safe_to_forward(rest, a, b) -> bool:
    """Every read of ``a`` in ``rest`` still sees the value ``b`` had at the copy."""
    b_changed = False
    for stmt in rest:
        uses = _loads(stmt, a)
        changes = _stores(stmt, b)
        if uses and (b_changed or (changes and not isinstance(stmt, (ast.Assign, ast.AugAssign)))):
            return False
        b_changed = b_changed or changes
    return True


def _propagate_copies(block, stores, loads):
    """Within a block, read ``b`` instead of ``a`` after ``a = b`` when that is safe."""
    i = 0
    while i < len(block):
        stmt = block[i]
        a = _single_target(stmt)
        if a and isinstance(stmt.value, ast.Name) and stores[a] == 1 and a != stmt.value.id:
            b = stmt.value.id
            rest = block[i + 1:]
            if sum(_loads(r, a) for r in rest) == loads[a] and _safe_to_forward(rest, a, b):
                for r in rest:
                    _Rename({a: b}).visit(r)
                loads[b] += loads[a]
                del block[i]
                continue
        for field in ("body", "orelse"):
            sub = getattr(stmt, field, None)
            if isinstance(sub, list):
                _propagate_copies(sub, stores, loads)
        i += 1


def _fuse_moves(block, stores, loads):
    """``a = expr; b = a`` with ``a`` used nowhere else becomes ``b = expr``; ``b = b`` goes."""
    out = []
    for stmt in block:
        target = _single_target(stmt)
        if target and isinstance(stmt.value, ast.Name) and stmt.value.id == target:
            continue
        if (target and isinstance(stmt.value, ast.Name) and out and _single_target(out[-1])
                == stmt.value.id and stores[stmt.value.id] == 1 and loads[stmt.value.id] == 1):
            out[-1].targets = [E.store_name(target)]
            continue
        for field in ("body", "orelse"):
            sub = getattr(stmt, field, None)
            if isinstance(sub, list):
                sub[:] = _fuse_moves(sub, stores, loads)
                if field == "body" and not sub:
                    sub.append(E.pass_())
        out.append(stmt)
    return out


def _tidy_names(fn):
    """``s_2`` becomes ``s`` when no other version of ``s`` (`naming.stem`) is left in the
    function.

    Parameters keep their names (``x_1``, a container leaf ``layers_0``).
    """
    params = {a.arg for a in fn.args.args}
    names = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | params
    names.add(fn.name)
    stems: dict[str, list[str]] = {}
    for name in names - params:
        base = stem(name)
        if base is not None:
            stems.setdefault(base, []).append(name)
    mapping = {versions[0]: base for base, versions in stems.items()
               if len(versions) == 1 and base not in names}
    if not mapping:
        return
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]


def _has_effects(expr) -> bool:
    """Calls that change state in generated code: tape pushes and pops, and print."""
    return any(isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Attribute) and n.func.attr in ("pop", "append"))
        or (isinstance(n.func, ast.Name) and n.func.id == "print")) for n in ast.walk(expr))


class _DropDead(ast.NodeTransformer):
    def __init__(self, unread):
        self.unread = unread
        self.changed = False

    def visit_Assign(self, node):
        target = _single_target(node)
        if target in self.unread and not _has_effects(node.value):
            self.changed = True
            return None
        return node

    def visit_AugAssign(self, node):
        if isinstance(node.target, ast.Name) and node.target.id in self.unread \
                and not _has_effects(node.value):
            self.changed = True
            return None
        return node


def _counters(fn) -> Counter:
    """Scalar counters (``trips = 0`` ... ``trips += 1``): names only ever assigned number
    constants, with the number of times their own ``+=`` reads them.  An array name is
    never one: its ``+=`` writes memory another name may share."""
    own, other = Counter(), set()
    for n in ast.walk(fn):
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            (own.update if _number(n.value) else other.update)([n.target.id])
        elif isinstance(n, ast.Assign):
            other.update(t.id for t in n.targets if isinstance(t, ast.Name) and not _number(n.value))
        elif isinstance(n, ast.For) and isinstance(n.target, ast.Name):
            other.add(n.target.id)
    return Counter({name: k for name, k in own.items() if name not in other})


def _drop_dead(fn):
    """Remove assignments to names that are never read, until none is left (a counter
    only ever read by its own ``+=``, such as forward mode's trip count, is unread too)."""
    while True:
        stores, loads = _counts(fn)
        own = _counters(fn)
        unread = {n for n in stores if loads[n] - own[n] == 0}
        dropper = _DropDead(unread)
        dropper.visit(fn)
        if not dropper.changed:
            return
        _fill_empty_blocks(fn)


def _fill_empty_blocks(fn):
    """Drop ``for``/``if`` statements left with nothing to do; give empty bodies a ``pass``."""
    for node in ast.walk(fn):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            block[:] = [s for s in block if not _idle(s)]
            if field == "body" and not block:
                block.append(E.pass_())


def _idle(stmt) -> bool:
    if isinstance(stmt, ast.For):
        return all(isinstance(s, ast.Pass) for s in stmt.body) and not stmt.orelse
    if isinstance(stmt, ast.If):
        return all(isinstance(s, ast.Pass) for s in stmt.body + stmt.orelse) and \
            not _has_effects(stmt.test)
    return False


def simplify(fn: ast.FunctionDef) -> ast.FunctionDef:
    fn = _FoldConstants().visit(fn)
    fn = _DropDefaultKeywords().visit(fn)
    _remove_renames(fn)
    _propagate_constants(fn)
    stores, loads = _counts(fn)
    _propagate_copies(fn.body, stores, loads)
    fn.body = _fuse_moves(fn.body, *_counts(fn))
    _drop_dead(fn)
    _tidy_names(fn)
    return ast.fix_missing_locations(fn)
