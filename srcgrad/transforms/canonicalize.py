"""Canonicalize: rewrite break, continue and early return into structured code.

Lowering only knows structured control flow, so this pass (gast to gast) removes the
jumps: ``break`` and ``continue`` become flag assignments with the rest of the body
guarded by ``if not flag``; a ``for`` loop that can be left early becomes a ``while``
loop whose test checks the flag (its trip count is then recorded like any while loop);
an ``if`` whose branch always returns absorbs the statements after it into its other
branch; any remaining early ``return`` sets a ``returned`` flag.  Every return then
assigns one result variable, and the function ends with a single ``return``.
"""

from __future__ import annotations

import copy

import gast

from srcgrad.errors import UnsupportedSyntaxError


# ----------------------------------------------------------------- gast node builders
def _name(id_, store=False):
    return gast.Name(id=id_, ctx=gast.Store() if store else gast.Load(), annotation=None,
                     type_comment=None)


def _const(value):
    return gast.Constant(value=value, kind=None)


def _assign(target, value, like):
    node = gast.Assign(targets=[_name(target, store=True)], value=value, type_comment=None)
    return gast.copy_location(node, like)


def _not(expr):
    return gast.UnaryOp(op=gast.Not(), operand=expr)


def _and(*exprs):
    exprs = [e for e in exprs if e is not None]
    return exprs[0] if len(exprs) == 1 else gast.BoolOp(op=gast.And(), values=list(exprs))


def _or(*exprs):
    return exprs[0] if len(exprs) == 1 else gast.BoolOp(op=gast.Or(), values=list(exprs))


def _if(test, body, orelse, like):
    return gast.copy_location(gast.If(test=test, body=body or [gast.Pass()], orelse=orelse), like)


# ----------------------------------------------------------------- queries
def _contains(nodes, kinds, into_loops=False):
    """True if any node of ``kinds`` occurs, not descending into nested loops unless asked."""
    for node in nodes:
        if isinstance(node, kinds):
            return True
        if isinstance(node, (gast.FunctionDef, gast.Lambda, gast.ClassDef)):
            continue
        if isinstance(node, (gast.For, gast.While)) and not into_loops:
            # a return leaves every enclosing loop; break and continue only their own
            if gast.Return in kinds and _contains(node.body + node.orelse, (gast.Return,), True):
                return True
            continue
        for field in ("body", "orelse"):
            sub = getattr(node, field, None)
            if isinstance(sub, list) and _contains(sub, kinds, into_loops):
                return True
    return False


def _always_returns(body) -> bool:
    if not body:
        return False
    last = body[-1]
    if isinstance(last, gast.Return):
        return True
    if isinstance(last, gast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False


class _Names:
    """Fresh, readable flag names that do not clash with the user's names."""

    def __init__(self, fn_node):
        self.taken = {n.id for n in gast.walk(fn_node) if isinstance(n, gast.Name)}
        self.taken |= {a.id for a in gast.walk(fn_node.args) if isinstance(a, gast.Name)}

    def fresh(self, base):
        name, k = base, 1
        while name in self.taken:
            name = f"{base}{k}"
            k += 1
        self.taken.add(name)
        return name


class Canonicalizer:
    def __init__(self, parsed):
        self.parsed = parsed
        self.names = _Names(parsed.node)
        self.result = None
        self.returned = None

    # -- returns -------------------------------------------------------------
    def run(self, fn_node, implicit_return=False, result="result"):
        """``implicit_return``: a function without ``return`` returns None (nested helpers);
        ``result`` names the variable every ``return`` assigns (a callee lowered in place
        names it after itself, so its value reads ``square`` rather than ``result``)."""
        fn_node = copy.deepcopy(fn_node)
        body = fn_node.body
        if isinstance(fn_node, gast.Lambda):
            return fn_node
        if implicit_return and not _always_returns(body):
            body = fn_node.body = body + [gast.copy_location(gast.Return(value=_const(None)),
                                                             body[-1])]
        if body and isinstance(body[0], gast.Expr) and isinstance(body[0].value, gast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        if not _always_returns(body) and not _contains(body, (gast.Return,), True):
            raise UnsupportedSyntaxError("the function never returns a value",
                                         self.parsed.loc(fn_node), "return")
        self.result = self.names.fresh(result)
        needs_flag = self._needs_flag(body)
        if needs_flag:
            self.returned = self.names.fresh("returned")
        body = self._absorb(body)
        body = self.block(body, loop=None)[0]
        pre = []
        if self.returned:
            pre.append(_assign(self.returned, _const(False), fn_node))
            pre.append(_assign(self.result, _const(None), fn_node))
        ret = gast.copy_location(gast.Return(value=_name(self.result)), body[-1] if body else fn_node)
        fn_node.body = pre + body + [ret]
        return fn_node

    def _needs_flag(self, body):
        """Whether some return is not in tail position once ifs absorb what follows them."""
        absorbed = self._absorb(copy.deepcopy(body))
        return self._nontail_return(absorbed, tail=True)

    def _nontail_return(self, body, tail):
        for i, node in enumerate(body):
            last = tail and i == len(body) - 1
            if isinstance(node, gast.Return):
                if not last:
                    return True
            elif isinstance(node, gast.If):
                if self._nontail_return(node.body, last) or self._nontail_return(node.orelse, last):
                    return True
            elif isinstance(node, (gast.For, gast.While)):
                if _contains(node.body + node.orelse, (gast.Return,), True):
                    return True
        return False

    def _absorb(self, body):
        """Move statements after an always-returning branch into the other branch."""
        out = []
        for i, node in enumerate(body):
            if isinstance(node, gast.If):
                node.body = self._absorb(node.body)
                node.orelse = self._absorb(node.orelse)
                rest = body[i + 1:]
                if rest and _always_returns(node.body) and not _always_returns(node.orelse):
                    node.orelse = self._absorb(node.orelse + rest)
                    out.append(node)
                    return out
                if rest and _always_returns(node.orelse) and not _always_returns(node.body):
                    node.body = self._absorb(node.body + rest)
                    out.append(node)
                    return out
            out.append(node)
            if isinstance(node, gast.Return):
                return out           # statements after a return are dead
        return out

    # -- blocks ----------------------------------------------------------------
    def block(self, body, loop):
        """Rewrite one block; ``loop`` holds the enclosing loop's flag names.

        Returns (statements, flags the block may set, whether it always jumps).  Whatever
        follows a statement that may set a flag runs under ``if not (flag or ...)``, however
        deep inside nested ``if``s the jump was.
        """
        out, flags = [], set()
        for i, node in enumerate(body):
            new, sets, jumps = self.stmt(node, loop)
            out.extend(new)
            flags |= sets
            if jumps:                # an unconditional jump: the rest is dead
                return out, flags, True
            rest = body[i + 1:]
            if sets and rest:
                guard = _not(_or(*[_name(f) for f in sorted(sets)]))
                inner, inner_sets, _ = self.block(rest, loop)
                out.append(_if(guard, inner, [], rest[0]))
                return out, flags | inner_sets, False
        return out, flags, False

    def stmt(self, node, loop):
        """Returns (replacement statements, flags they may set, whether they always jump)."""
        if isinstance(node, gast.Return):
            value = node.value if node.value is not None else _const(None)
            new = [_assign(self.result, value, node)]
            if self.returned:
                new.append(_assign(self.returned, _const(True), node))
            return new, ({self.returned} if self.returned else set()), True
        if isinstance(node, (gast.Break, gast.Continue)):
            what = "break" if isinstance(node, gast.Break) else "continue"
            if loop is None:
                raise UnsupportedSyntaxError(f"'{what}' outside a loop", self.parsed.loc(node), what)
            return [_assign(loop[what], _const(True), node)], {loop[what]}, True
        if isinstance(node, gast.If):
            then, s1, j1 = self.block(node.body, loop)
            orelse, s2, j2 = self.block(node.orelse, loop) if node.orelse else ([], set(), False)
            node.body, node.orelse = then or [gast.Pass()], orelse
            return [node], s1 | s2, j1 and j2
        if isinstance(node, (gast.For, gast.While)):
            return self.loop(node)
        return [node], set(), False

    def loop(self, node):
        if node.orelse:
            raise UnsupportedSyntaxError("loop 'else' clauses are not supported",
                                         self.parsed.loc(node), "for/while-else")
        has_break = _contains(node.body, (gast.Break,))
        has_continue = _contains(node.body, (gast.Continue,))
        has_return = _contains(node.body, (gast.Return,), True)
        if not (has_break or has_continue or has_return):
            node.body = self.block(node.body, None)[0]
            return [node], set(), False
        flags = {"break": self.names.fresh("broke"), "continue": self.names.fresh("skip")}
        pre = [_assign(flags["break"], _const(False), node)]
        body = [_assign(flags["continue"], _const(False), node)] + list(node.body)
        body = self.block(body, flags)[0]
        stop = _not(_name(flags["break"]))
        if self.returned and has_return:
            stop = _and(stop, _not(_name(self.returned)))
        if isinstance(node, gast.While):
            node.test = _and(stop, node.test)
            node.body = body
            new = pre + [node]
        else:
            new = pre + self._for_to_while(node, body, stop)
        sets = {self.returned} if (self.returned and has_return) else set()
        return new, sets, False

    def _for_to_while(self, node, body, stop):
        """``for t in range(a, b, s)`` -> an index-driven while loop that can stop early.

        Other loops (over arrays, tuples, enumerate, zip) keep their ``for`` and guard the
        body instead: once left, the remaining iterations do nothing.
        """
        it = node.iter
        if not (isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id == "range"):
            item = self.names.fresh("item")
            bind = gast.copy_location(gast.Assign(targets=[node.target], value=_name(item),
                                                  type_comment=None), node)
            node.target = _name(item, store=True)
            node.body = [_if(stop, [bind] + body, [], node)]
            return [node]
        args = list(it.args)
        if len(args) == 1:
            args = [_const(0), args[0], _const(1)]
        elif len(args) == 2:
            args = args + [_const(1)]
        k = self.names.fresh("k")
        stop_name = self.names.fresh("stop")
        step_name = self.names.fresh("step")
        pre = [_assign(k, args[0], node), _assign(stop_name, args[1], node), _assign(step_name, args[2], node)]
        step = args[2]
        if isinstance(step, gast.Constant) or (isinstance(step, gast.UnaryOp) and isinstance(step.operand, gast.Constant)):
            value = step.value if isinstance(step, gast.Constant) else -step.operand.value
            op = gast.Lt() if value > 0 else gast.Gt()
            in_range = gast.Compare(left=_name(k), ops=[op], comparators=[_name(stop_name)])
        else:
            up = gast.Compare(left=_name(k), ops=[gast.Lt()], comparators=[_name(stop_name)])
            down = gast.Compare(left=_name(k), ops=[gast.Gt()], comparators=[_name(stop_name)])
            positive = gast.Compare(left=_name(step_name), ops=[gast.Gt()], comparators=[_const(0)])
            in_range = gast.IfExp(test=positive, body=up, orelse=down)
        test = _and(stop, in_range)
        bind = gast.copy_location(gast.Assign(targets=[node.target], value=_name(k), type_comment=None), node)
        advance = gast.copy_location(
            gast.AugAssign(target=_name(k, True), op=gast.Add(), value=_name(step_name)), node)
        loop = gast.copy_location(gast.While(test=test, body=[bind, advance] + body, orelse=[]), node)
        return pre + [loop]


def canonicalize(parsed):
    """Return a copy of the parsed function's node without break/continue/early return."""
    return Canonicalizer(parsed).run(parsed.node)
