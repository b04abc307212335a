"""Aliasing in lowering: which arrays the function owns and may write in place, the buffer
groups of values that may be the same object, views of buffers, and the refusals that
keep writes visible to every name and never stale (see docs/architecture.md, "Aliasing
follows NumPy").

``AliasTracking`` is the part of ``lower.Lowerer`` that keeps these facts: ``groups`` and
``views`` (handed on to the IR), ``owned``, ``sources``, ``view_base`` and ``poisoned``.
"""

from __future__ import annotations

from srcgrad import ir
from srcgrad.errors import AliasingError
from srcgrad.runtime import tape as tape_rt


class AliasTracking:
    """Buffers, views and aliasing (a part of ``lower.Lowerer``)."""

    def new_group(self) -> int:
        """A new buffer group (the versions of one array written in place, or of one list)."""
        self._group_ids += 1
        return self._group_ids

    def make_buffer(self, op) -> bool:
        """Let the function write ``op`` in place: true for arrays it created itself (the
        result of an operation, or a merge of such results), which join one buffer group
        with every value they may be, so aliases see the write."""
        if not isinstance(op, ir.Var):
            return False
        if op.name in self.groups:
            return True
        sources = self.owned.get(op.name)
        if sources is None:
            return False
        group = self.new_group()
        if self.integral(op):
            self.integer_groups.add(group)
        pending = [op.name]
        while pending:
            name = pending.pop()
            if name in self.groups:
                old = self.groups[name]
                if old not in self.integer_groups:
                    self.integer_groups.discard(group)
                self.rename_group(old, group)
                continue
            self.groups[name] = group
            self.kinds[name] = "buffer"
            pending += [v for v in self.owned.get(name, []) if v not in self.groups or
                        self.groups[v] != group]
        # views taken of these values before they became a buffer are views of it now
        changed = True
        while changed:
            changed = False
            for view, base in self.view_base.items():
                if view not in self.views and (self.groups.get(base) == group or
                                               self.views.get(base) == group):
                    self.views[view] = group
                    changed = True
        return True

    def rename_group(self, old, new):
        """Buffer group ``old`` is part of ``new`` now: its values and its views too (a view
        left with the old number would look like a view of nothing written, and be
        recorded for the reverse sweep without a copy)."""
        for table in (self.groups, self.views):
            for name, g in list(table.items()):
                if g == old:
                    table[name] = new

    def integral(self, op) -> bool:
        """Whether ``op`` is known to be an array of integers or booleans: no derivative
        flows through it, and a float written into it is truncated."""
        if not isinstance(op, ir.Var):
            return False
        group = self.groups.get(op.name, self.views.get(op.name))
        if group is not None:
            return group in self.integer_groups
        return self.kinds.get(op.name) in ("intarray", "otherarray") or \
            op.name in self.integer_arrays

    def refuse_foreign_write(self, name, array, node, what, instead):
        """A write into an array the function does not own (an argument, or a value that may
        be one): refused, since the caller's array would change."""
        self.refuse(node, f"{what} would write into an array this function did not create "
                          f"('{name}' may be an argument, or a view of one), changing the "
                          f"caller's data; {instead}, or copy it first ('{name} = {name}.copy()')",
                    "in-place update of an argument", AliasingError)

    def store_into(self, name, array, index, value, node):
        if isinstance(array, ir.Var) and array.name not in self.groups and \
                array.name not in self.views:
            self.make_buffer(array)
        if not (isinstance(array, ir.Var) and array.name in self.groups):
            if isinstance(array, ir.Var) and array.name in self.views:
                self.refuse(node, f"writing into '{name}', a view of another array, is not "
                                  f"supported; index the original array instead",
                            "store into a view", AliasingError)
            if isinstance(array, ir.Var) and ({array.name} | self.may_be(array.name)) & \
                    set(self.params):
                self.refuse(node, f"in-place store into '{name}', an argument being "
                                  f"differentiated; make a private copy first "
                                  f"('{name} = {name}.copy()'), or leave it out of wrt: a "
                                  f"scratch or output array that is not differentiated may be "
                                  f"written in place", "in-place store", AliasingError)
            self.refuse(node, f"in-place store into '{name}', which is not an array created in "
                              f"this function; make a private copy first, e.g. "
                              f"'{name} = {name}.copy()' (np.zeros, np.empty, np.zeros_like also work)",
                        "in-place store", AliasingError)
        new = self.fresh(name, name)
        self.emit(ir.Store(new, array, index, value, self.loc(node)))
        self.new_version(new, array, node)

    def new_version(self, new, array, node):
        """``new`` is the next version of the buffer ``array`` (written in place)."""
        group = self.groups[array.name]
        self.kinds[new] = "buffer"
        self.groups[new] = group
        if array.name in self.ndims:
            self.ndims[new] = self.ndims[array.name]
        # every name bound to this buffer now sees the new version; views of it go stale
        for user, op in list(self.env.items()):
            if isinstance(op, ir.Var) and op.name == array.name:
                self.env[user] = ir.Var(new)
        for view, g in self.views.items():
            if g == group:
                self.poisoned.setdefault(view, self.loc(node))
        # a name bound to another value of the group (merged or carried) may be this same
        # array on some path: its value is uncertain now
        if self.kinds.get(array.name) == "buffer":
            members = {n for n, g in self.groups.items() if g == group}
            for user, op in self.env.items():
                if isinstance(op, ir.Var) and op.name != new and (
                        self.groups.get(op.name) == group or self.may_be(op.name) & members):
                    self.poisoned.setdefault(op.name, self.loc(node))

    def may_be(self, name) -> set:
        """The values ``name`` may be the same object as, through merges and loops."""
        seen, pending = set(), list(self.sources.get(name, ()))
        while pending:
            n = pending.pop()
            if n not in seen:
                seen.add(n)
                pending += self.sources.get(n, ())
        return seen

    def own_if_all(self, out, sources):
        """``out`` is an array made here if every value it may be is one."""
        names = [v.name for v in sources if isinstance(v, ir.Var)]
        if len(names) == len(sources) and all(n in self.owned or n in self.groups for n in names):
            self.owned[out] = names

    def group_kind(self, name) -> str:
        """"list" for the versions of a list, "buffer" for an array written in place."""
        return "list" if self.kinds.get(name) == "list" else "buffer"

    def join_buffers(self, out, sources, node):
        groups = {self.groups[s.name] for s in sources if isinstance(s, ir.Var) and s.name in self.groups}
        if groups:
            g = min(groups)
            if not all(self.integral(s) for s in sources if isinstance(s, ir.Var)):
                self.integer_groups -= groups      # a float array on some path
            lists = [s for s in sources if isinstance(s, ir.Var) and self.kinds.get(s.name) == "list"]
            self.kinds[out] = "list" if lists else "buffer"
            self.groups[out] = g
            for old in groups - {g}:
                self.rename_group(old, g)
            ndims = {self.ndims.get(s.name) for s in sources if isinstance(s, ir.Var)}
            if len(ndims) == 1 and None not in ndims:
                self.ndims[out] = ndims.pop()

    def written_groups(self, body) -> set:
        """The buffer groups that ``body`` writes in place."""
        return {self.groups[s.target] for s in ir.walk(body)
                if isinstance(s, ir.Store) or (isinstance(s, ir.Call) and s.fn is tape_rt.add_at)
                if s.target in self.groups}

    def check_stale_reads(self, slots, body, node):
        """Refuse a loop that reads, from a value made before it, an array the loop writes
        in place: from the second iteration on, that value is out of date (an alias or a
        view of the array, not the loop's own version of it)."""
        written = self.written_groups(body)
        if not written:
            return
        inside = {n for s in ir.walk(body) for n in ir.defined_names(s)}
        inside |= {c for _, _, carried, _ in slots for c in carried}
        inside |= {c for s in ir.walk(body) if isinstance(s, (ir.For, ir.While)) for c in s.carried}
        for s in ir.walk(body):
            operands = list(ir.used_operands(s))
            for v in {n for op in operands for n in ir.operand_vars(op)} - inside:
                group = self.groups.get(v, self.views.get(v))
                if group in written and self.kinds.get(v) != "list":
                    user = self.user_names.get(v, v)
                    self.refuse(node, f"this loop writes an array in place and also reads "
                                      f"'{user}', an alias or view of it made before the loop, "
                                      f"which is out of date from the second iteration on; "
                                      f"read the array itself, or copy '{user}' (.copy())",
                                "stale alias", AliasingError)

    def follow_loop_writes(self, slots_done, body, node):
        """After a loop that writes a carried array in place: the other names bound to that
        array before the loop (aliases of its initial value) are the same object, so they
        see the loop's last version when the loop keeps writing that one array, and are
        stale otherwise (any later read, or a read by an enclosing loop's next iteration,
        is refused)."""
        written = self.written_groups(body)
        for n, c, init, y, out in slots_done:
            if self.groups.get(c) not in written or not isinstance(init, ir.Var):
                continue
            same = isinstance(y, ir.Var) and same_object(body, c, y.name)
            for user, op in list(self.env.items()):
                if user != n and isinstance(op, ir.Var) and op.name == init.name:
                    if same:
                        self.env[user] = ir.Var(out)
                    else:
                        self.poisoned.setdefault(init.name, self.loc(node))

    def lookup_poison(self, name, node):
        where = self.poisoned[name]
        self.refuse(node, f"this reads a view of an array that was written in place at line "
                          f"{where.line}; its values changed under it. Copy it (.copy()) before "
                          f"the write", "stale view", AliasingError)


def same_object(body, start: str, end: str) -> bool:
    """Whether the value ``end`` is the array ``start`` (in ``body``), changed only in place:
    stores, in-place additions, renames and loops or branches that do only that."""
    return _chain(_definitions(body), start, end, set())


def _definitions(body) -> dict:
    return {n: s for s in body for n in ir.defined_names(s)}


def _chain(defs, start, name, seen) -> bool:
    if name == start:
        return True
    s = defs.get(name)
    if s is None or name in seen:
        return False
    seen.add(name)
    if isinstance(s, ir.Store):
        return _chain(defs, start, s.array.name, seen)
    if isinstance(s, ir.Copy) or (isinstance(s, ir.Call) and s.fn is tape_rt.add_at):
        source = s.value if isinstance(s, ir.Copy) else s.args[0]
        return isinstance(source, ir.Var) and _chain(defs, start, source.name, seen)
    if isinstance(s, (ir.For, ir.While)):
        k = s.outs.index(name)
        init, y = s.inits[k], s.yields[k]
        inner = s.body + (s.cond_body if isinstance(s, ir.While) else [])
        return isinstance(init, ir.Var) and isinstance(y, ir.Var) and \
            _chain(defs, start, init.name, seen) and same_object(inner, s.carried[k], y.name)
    if isinstance(s, ir.If):
        k = s.outs.index(name)
        return all(isinstance(v, ir.Var) and _chain({**defs, **_definitions(branch)}, start,
                                                      v.name, set(seen))
                   for v, branch in ((s.then_yields[k], s.then_body),
                                     (s.else_yields[k], s.else_body)))
    return False
