"""Prune: drop IR statements and loop-carried values whose results are never used.

Lowering carries every name a loop assigns (its index included, for Python's
"the loop variable survives the loop" rule) and merges every name a branch assigns;
most of those are dead.  Removing them keeps the tape and the generated code small.
"""

from __future__ import annotations

from srcgrad import ir
from srcgrad.rules.effects import is_effect
from srcgrad.rules.registry import facts

# operations that change a list in place: kept while any version of the list is used, since
# dropping one would change what the list holds for the others


def _vars(ops) -> set:
    return {n for op in ops for n in ir.operand_vars(op)}


def _mutates_live_list(s, fn, live) -> bool:
    if not (isinstance(s, ir.Call) and facts(s.fn).structural):
        return False
    group = fn.buffer_group.get(s.args[0].name)
    return any(fn.buffer_group.get(n) == group for n in live)


def _has_effect(body) -> bool:
    """Whether a block runs a call kept for its side effect (print)."""
    return any(isinstance(s, ir.Call) and is_effect(s.fn) for s in ir.walk(body))


def _mark(body, live: set, fn) -> bool:
    """Mark, backwards from what is live, every value needed to compute it."""
    changed = False
    for s in reversed(body):
        before = len(live)
        if isinstance(s, (ir.Call, ir.GetItem, ir.Copy, ir.Store)):
            if s.target not in live and (_mutates_live_list(s, fn, live) or
                                         (isinstance(s, ir.Call) and is_effect(s.fn))):
                live.add(s.target)
            if s.target in live:
                live.update(_vars(ir.used_operands(s)))
        elif isinstance(s, ir.If):
            used = [i for i, o in enumerate(s.outs) if o in live]
            if used or _has_effect(s.then_body + s.else_body):
                live.update(_vars([s.cond]))
                live.update(_vars([s.then_yields[i] for i in used] + [s.else_yields[i] for i in used]))
            changed |= _mark(s.then_body, live, fn)
            changed |= _mark(s.else_body, live, fn)
        elif isinstance(s, (ir.For, ir.While)):
            for j, (c, o) in enumerate(zip(s.carried, s.outs)):
                if o in live or c in live:
                    live.update((c, o))
                    live.update(_vars([s.inits[j], s.yields[j]]))
            if any(o in live for o in s.outs) or _has_effect(s.body):
                if isinstance(s, ir.For):
                    live.update(_vars([s.start, s.stop, s.step]))
                else:
                    live.update(_vars([s.cond]))
                    changed |= _mark(s.cond_body, live, fn)
            changed |= _mark(s.body, live, fn)
        changed |= len(live) != before
    return changed


def _sweep(body, live: set) -> list:
    out = []
    for s in body:
        if isinstance(s, (ir.Call, ir.GetItem, ir.Copy, ir.Store)):
            if s.target not in live:
                continue
        elif isinstance(s, ir.If):
            keep = [i for i, o in enumerate(s.outs) if o in live]
            if not keep and not _has_effect(s.then_body + s.else_body):
                continue
            s.outs = [s.outs[i] for i in keep]
            s.then_yields = [s.then_yields[i] for i in keep]
            s.else_yields = [s.else_yields[i] for i in keep]
            s.then_body = _sweep(s.then_body, live)
            s.else_body = _sweep(s.else_body, live)
        elif isinstance(s, (ir.For, ir.While)):
            keep = [j for j, o in enumerate(s.outs) if o in live]
            if not keep and not _has_effect(s.body + getattr(s, "cond_body", [])):
                continue
            for name in ("carried", "inits", "yields", "outs"):
                setattr(s, name, [getattr(s, name)[j] for j in keep])
            s.body = _sweep(s.body, live)
            if isinstance(s, ir.While):
                s.cond_body = _sweep(s.cond_body, live)
        out.append(s)
    return out


def prune(fn: ir.Function) -> ir.Function:
    """Remove statements and carried values that do not contribute to the result."""
    live = set(ir.operand_vars(fn.result))
    while _mark(fn.body, live, fn):
        pass
    fn.body = _sweep(fn.body, live)
    return fn
