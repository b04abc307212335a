"""Lowering of expressions other than calls and branches: constants, names, operators,
comparisons, subscripts (element reads and views), attributes and literals.  Container
literals and comprehensions go to the ``containers`` helper, run-time list reads to the
``lists`` helper.

``Expressions`` is the part of ``lower.Lowerer`` that lowers them.
"""

from __future__ import annotations

import operator

import gast

from srcgrad import ir
from srcgrad.transforms.containers import holds_mutable, is_container
from srcgrad.transforms.lower_tables import ATTRIBUTES, BINOPS, CMPOPS, UNARY
from srcgrad.transforms.lower_values import LocalFunction, NamespaceValue, base_name


class Expressions:
    """Operators, subscripts, attributes and literals (a part of ``lower.Lowerer``)."""

    def expr_Constant(self, node, hint):
        return ir.Const(node.value)

    def expr_Name(self, node, hint):
        return self.lookup(node.id, node)

    def expr_Tuple(self, node, hint):
        return tuple(self.expr(e, None) for e in node.elts)

    def expr_List(self, node, hint):
        items = [self.expr(e, None) for e in node.elts]
        if any(holds_mutable(v) for v in items):
            return self.containers.own(items)         # a list of dicts or lists stays a static list
        return ir.Seq(tuple(self.as_operand(v, e) for v, e in zip(items, node.elts)), "list")

    def expr_UnaryOp(self, node, hint):
        fn = UNARY.get(type(node.op))
        if fn is None:
            self.refuse(node, "unsupported unary operator", type(node.op).__name__)
        operand = self.as_operand(self.expr(node.operand, None), node.operand)
        if isinstance(operand, ir.Const) and fn is operator.neg and isinstance(operand.value, (int, float)):
            return ir.Const(-operand.value)
        return self.call(fn, [operand], {}, node, hint)

    def expr_BinOp(self, node, hint):
        fn = BINOPS.get(type(node.op))
        if fn is None:
            self.refuse(node, "unsupported operator", type(node.op).__name__)
        left = self.as_operand(self.expr(node.left, None), node.left)
        right = self.as_operand(self.expr(node.right, None), node.right)
        return self.call(fn, [left, right], {}, node, hint)

    def expr_Compare(self, node, hint):
        if any(isinstance(op, (gast.In, gast.NotIn)) for op in node.ops):
            return self.containers.membership(node)
        if any(isinstance(op, (gast.Is, gast.IsNot)) for op in node.ops):
            return self.containers.identity(node)
        left = self.as_operand(self.expr(node.left, None), node.left)
        result = None
        for op, comp in zip(node.ops, node.comparators):
            fn = CMPOPS.get(type(op))
            if fn is None:
                self.refuse(node, "unsupported comparison", type(op).__name__)
            right = self.as_operand(self.expr(comp, None), comp)
            value = self.call(fn, [left, right], {}, node, hint if len(node.ops) == 1 else None)
            result = value if result is None else self.call(operator.and_, [result, value], {}, node, hint)
            left = right
        return result

    def expr_Subscript(self, node, hint):
        value = self.expr(node.value, None)
        if is_container(value):
            return self.containers.getitem(value, node)
        index = self.index(node.slice, node)
        value = self.as_operand(value, node)
        return self.getitem(value, index, node, hint)

    def getitem(self, value, index, node, hint):
        if self.is_list(value):
            return self.lists.item(value, index, node, hint)
        if isinstance(value, ir.Seq) and len(index.parts) == 1 and isinstance(index.parts[0], ir.Const):
            return value.items[index.parts[0].value]
        if isinstance(value, ir.Seq):
            self.refuse(node, "indexing a tuple or list literal with a value computed at run time "
                              "is not supported; use an array (np.array / np.stack) or a constant index",
                        "dynamic index into a tuple")
        if isinstance(value, ir.Var) and value.name in self.poisoned:
            self.lookup_poison(value.name, node)
        target = self.fresh(hint or (base_name(value) + "_i" if isinstance(value, ir.Var) else "tmp"), hint)
        self.emit(ir.GetItem(target, value, index, self.loc(node)))
        src_kind = self.kind(value)
        all_int = all(self.kind(p) == "int" for p in index.parts)
        ndim = self.ndims.get(value.name) if isinstance(value, ir.Var) else None
        if src_kind == "shape" or (self.integral(value) and all_int and ndim == len(index.parts)):
            self.kinds[target] = "int"
        elif src_kind in ("array", "buffer") and all_int and ndim == len(index.parts):
            self.kinds[target] = "float"
        elif src_kind in ("array", "buffer") and ndim is not None:
            rank = _indexed_rank(ndim, index.parts, self.kind)
            if rank == 0:
                self.kinds[target] = "float"
            elif rank is not None:
                self.ndims[target] = rank
                self.kinds[target] = "array"
        if isinstance(value, ir.Var) and (value.name in self.groups or value.name in self.views):
            group = self.groups.get(value.name, self.views.get(value.name))
            ndim = self.ndims.get(value.name)
            scalar = ndim is not None and len(index.parts) == ndim and all_int
            if not scalar:
                self.views[target] = group
        elif isinstance(value, ir.Var) and self.kinds.get(target) not in ("float", "int", "bool") \
                and self.kind(value) != "tuple":
            self.view_base[target] = value.name  # a view, should the array be written later
        return ir.Var(target)

    def index(self, node, at) -> ir.Index:
        parts = node.elts if isinstance(node, gast.Tuple) else [node]
        out = []
        for p in parts:
            if isinstance(p, gast.Slice):
                bounds = [None if b is None else self.as_operand(self.expr(b, None), b)
                          for b in (p.lower, p.upper, p.step)]
                out.append(ir.Slice(*bounds))
            elif isinstance(p, gast.Constant) and (p.value is None or p.value is Ellipsis):
                out.append(p.value)
            else:
                v = self.expr(p, None)
                if isinstance(v, tuple):
                    self.refuse(at, "tuple-valued indices are not supported", "index")
                out.append(self.as_operand(v, p))
        return ir.Index(tuple(out))

    def expr_Attribute(self, node, hint):
        base = self.expr(node.value, None)
        if is_container(base):
            if node.attr not in getattr(type(base), "_fields", ()):
                self.refuse(node, f"a {type(base).__name__} has no field '{node.attr}'", "attribute")
            return getattr(base, node.attr)
        if isinstance(base, NamespaceValue):
            try:
                return self.constant(self.parsed.attribute(base.value, node.attr), node,
                                     f"{base.name}.{node.attr}")
            except AttributeError:
                self.refuse(node, f"'{base.name}' has no attribute '{node.attr}'", "attribute")
        fn = ATTRIBUTES.get(node.attr)
        if fn is None:
            self.refuse(node, f"the attribute '.{node.attr}' is not supported on arrays", "attribute")
        return self.call(fn, [self.as_operand(base, node)], {}, node, hint)

    def expr_Lambda(self, node, hint):
        return LocalFunction(node, self.frame)

    # ------------------------------------------------------------------ container literals
    def expr_Dict(self, node, hint):
        return self.containers.dict_literal(node)

    def expr_ListComp(self, node, hint):
        items = self.containers.comprehension(node, list)
        return self.list_loop(node, hint) if items is None else items   # None: a run-time list

    def expr_GeneratorExp(self, node, hint):
        return self.expr_ListComp(node, hint)

    def expr_DictComp(self, node, hint):
        return self.containers.comprehension(node, dict)

    def expr_SetComp(self, node, hint):
        self.refuse(node, "set comprehensions are not supported", "set comprehension")

    def expr_Set(self, node, hint):
        self.refuse(node, "sets are not supported (their order is not defined)", "set")


def _indexed_rank(ndim, parts, kind):
    """The rank of ``a[parts]`` for ``a`` of rank ``ndim`` (basic indexing), else None."""
    ints = sum(1 for p in parts if not isinstance(p, ir.Slice) and p is not None
               and p is not Ellipsis and kind(p) in ("int", "bool"))
    others = [p for p in parts if not (isinstance(p, ir.Slice) or p is None or p is Ellipsis)
              and kind(p) not in ("int", "bool")]
    if others or ints + sum(1 for p in parts if isinstance(p, ir.Slice)) > ndim:
        return None
    return ndim - ints + sum(1 for p in parts if p is None)
