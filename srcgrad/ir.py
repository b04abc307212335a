"""The intermediate representation: SSA values, one primitive per statement, structured control flow.

Every value has one definition.  Control flow stays structured, like MLIR's ``scf``:
an ``If`` yields merged values from each branch, a loop names its carried values
(block arguments inside the body), their initial values, what each iteration yields,
and the values visible after the loop.  Arrays created in the function (``copy``,
``zeros``...) may be written in place; a ``Store`` defines a new SSA version of the
array, so data flow stays explicit even though the buffer is shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from srcgrad.errors import Loc, SrcgradError


# --------------------------------------------------------------------------- operands
@dataclass(frozen=True)
class Var:
    """A reference to an SSA value."""

    name: str


@dataclass(frozen=True)
class Const:
    """A literal (number, None, a slice of constants, a tuple of constants...)."""

    value: Any


@dataclass(frozen=True)
class Seq:
    """A tuple or list literal of operands, e.g. the arrays passed to ``np.stack``."""

    items: tuple
    kind: str = "tuple"      # "tuple" | "list"


@dataclass(frozen=True)
class Slice:
    """``lower:upper:step`` inside an index; parts are operands or None."""

    lower: Any = None
    upper: Any = None
    step: Any = None


@dataclass(frozen=True)
class Index:
    """The subscript of ``x[...]``: a tuple of operands, ``Slice``s, None and Ellipsis."""

    parts: tuple


Operand = Union[Var, Const, Seq, Slice, Index]


def operand_vars(op) -> list[str]:
    """Names of the SSA values an operand reads, in order."""
    if isinstance(op, Var):
        return [op.name]
    if isinstance(op, Seq):
        return [n for item in op.items for n in operand_vars(item)]
    if isinstance(op, Slice):
        return [n for part in (op.lower, op.upper, op.step) for n in operand_vars(part)]
    if isinstance(op, Index):
        return [n for part in op.parts for n in operand_vars(part)]
    return []


# --------------------------------------------------------------------------- statements
@dataclass
class Call:
    """``target = fn(*args, **kwargs)`` for a primitive ``fn``."""

    target: str
    fn: Any
    fn_name: str                 # how generated code spells the callee, e.g. "np.sin"
    args: list
    kwargs: dict
    loc: Loc


@dataclass
class GetItem:
    """``target = array[index]``."""

    target: str
    array: Operand
    index: Index
    loc: Loc


@dataclass
class Store:
    """``array[index] = value`` in place; ``target`` names the array's new version."""

    target: str
    array: Var
    index: Index
    value: Operand
    loc: Loc


@dataclass
class Copy:
    """``target = value``: a plain rename, kept where the user's name matters."""

    target: str
    value: Operand
    loc: Loc


@dataclass
class If:
    """Structured conditional; ``outs[i]`` is ``then_yields[i]`` or ``else_yields[i]``."""

    cond: Operand
    then_body: list
    else_body: list
    outs: list[str]
    then_yields: list
    else_yields: list
    loc: Loc


@dataclass
class For:
    """``for index in range(start, stop, step)`` with explicit loop-carried values."""

    index: str
    start: Operand
    stop: Operand
    step: Operand
    carried: list[str]           # names of the carried values inside the body
    inits: list                  # their values on entry
    body: list
    yields: list                 # their values at the end of an iteration
    outs: list[str]              # their values after the loop
    loc: Loc


@dataclass
class While:
    """``while cond`` with carried values; ``cond_body`` computes ``cond`` from them."""

    carried: list[str]
    inits: list
    cond_body: list
    cond: Operand
    body: list
    yields: list
    outs: list[str]
    loc: Loc


Stmt = Union[Call, GetItem, Store, Copy, If, For, While]


@dataclass
class Function:
    """A lowered function: parameters, a body, and the operand it returns."""

    name: str
    params: list[str]
    body: list
    result: Operand
    loc: Loc
    kinds: dict[str, str] = field(default_factory=dict)        # value -> "int" | "bool" | "buffer" ...
    buffer_group: dict[str, int] = field(default_factory=dict)  # in-place-able array -> group id
    user_names: dict[str, str] = field(default_factory=dict)    # ssa name -> user's name
    ndims: dict[str, int] = field(default_factory=dict)         # array value -> known rank
    arity: dict[str, int] = field(default_factory=dict)         # tuple value -> its length
    result_loc: Loc | None = None                                # the return statement
    result_tree: Any = None          # pytree.TreeDef of the result (its leaves are a Seq)
    view_group: dict[str, int] = field(default_factory=dict)    # view of a buffer -> its group
    integer_groups: set = field(default_factory=set)  # buffer groups of integer or bool arrays
    no_rule: dict = field(default_factory=dict)  # call without a rule -> error if it is active


def defined_names(stmt) -> list[str]:
    """Names a statement defines at its own level."""
    if isinstance(stmt, (Call, GetItem, Store, Copy)):
        return [stmt.target]
    if isinstance(stmt, If):
        return list(stmt.outs)
    if isinstance(stmt, (For, While)):
        return list(stmt.outs)
    return []


def used_operands(stmt) -> list:
    """Operands a statement reads at its own level (not those inside nested bodies)."""
    if isinstance(stmt, Call):
        return list(stmt.args) + list(stmt.kwargs.values())
    if isinstance(stmt, GetItem):
        return [stmt.array, stmt.index]
    if isinstance(stmt, Store):
        return [stmt.array, stmt.index, stmt.value]
    if isinstance(stmt, Copy):
        return [stmt.value]
    if isinstance(stmt, If):
        return [stmt.cond]
    if isinstance(stmt, For):
        return [stmt.start, stmt.stop, stmt.step] + list(stmt.inits)
    if isinstance(stmt, While):
        return list(stmt.inits)
    return []


def walk(body):
    """Every statement of a body, nested ones included, in program order."""
    for stmt in body:
        yield stmt
        for sub in nested_bodies(stmt):
            yield from walk(sub)


def nested_bodies(stmt) -> list[list]:
    if isinstance(stmt, If):
        return [stmt.then_body, stmt.else_body]
    if isinstance(stmt, For):
        return [stmt.body]
    if isinstance(stmt, While):
        return [stmt.cond_body, stmt.body]
    return []


# --------------------------------------------------------------------------- printer
def format_operand(op) -> str:
    if isinstance(op, Var):
        return f"%{op.name}"
    if isinstance(op, Const):
        return repr(op.value)
    if isinstance(op, Seq):
        inner = ", ".join(format_operand(i) for i in op.items)
        return f"[{inner}]" if op.kind == "list" else f"({inner}{',' if len(op.items) == 1 else ''})"
    if isinstance(op, Slice):
        parts = ["" if p is None else format_operand(p) for p in (op.lower, op.upper, op.step)]
        return ":".join(parts[:2]) if parts[2] == "" else ":".join(parts)   # 1:, :, ::2
    if isinstance(op, Index):
        return ", ".join(format_operand(p) if p is not None and p is not Ellipsis else repr(p)
                         for p in op.parts)
    return repr(op)


def _names(names) -> str:
    return ", ".join(f"%{n}" for n in names)


def _ops(ops) -> str:
    return ", ".join(format_operand(o) for o in ops)


def format_body(body, indent: int = 1) -> list[str]:
    pad = "  " * indent
    lines = []
    for s in body:
        if isinstance(s, Call):
            args = [format_operand(a) for a in s.args]
            args += [f"{k}={format_operand(v)}" for k, v in s.kwargs.items()]
            lines.append(f"{pad}%{s.target} = {s.fn_name}({', '.join(args)})")
        elif isinstance(s, GetItem):
            lines.append(f"{pad}%{s.target} = {format_operand(s.array)}[{format_operand(s.index)}]")
        elif isinstance(s, Store):
            lines.append(f"{pad}%{s.target} = store {format_operand(s.array)}"
                         f"[{format_operand(s.index)}] <- {format_operand(s.value)}")
        elif isinstance(s, Copy):
            lines.append(f"{pad}%{s.target} = {format_operand(s.value)}")
        elif isinstance(s, If):
            lines.append(f"{pad}{_names(s.outs) + ' = ' if s.outs else ''}if {format_operand(s.cond)}:")
            lines += format_body(s.then_body, indent + 1)
            lines.append(f"{pad}  yield ({_ops(s.then_yields)})")
            lines.append(f"{pad}else:")
            lines += format_body(s.else_body, indent + 1)
            lines.append(f"{pad}  yield ({_ops(s.else_yields)})")
        elif isinstance(s, For):
            carried = ", ".join(f"%{c}={format_operand(i)}" for c, i in zip(s.carried, s.inits))
            lines.append(f"{pad}{_names(s.outs) + ' = ' if s.outs else ''}for %{s.index} in "
                         f"range({_ops([s.start, s.stop, s.step])}) carry ({carried}):")
            lines += format_body(s.body, indent + 1)
            lines.append(f"{pad}  yield ({_ops(s.yields)})")
        elif isinstance(s, While):
            carried = ", ".join(f"%{c}={format_operand(i)}" for c, i in zip(s.carried, s.inits))
            lines.append(f"{pad}{_names(s.outs) + ' = ' if s.outs else ''}while carry ({carried}):")
            lines += format_body(s.cond_body, indent + 2)
            lines.append(f"{pad}  test {format_operand(s.cond)}")
            lines.append(f"{pad}  do:")
            lines += format_body(s.body, indent + 2)
            lines.append(f"{pad}  yield ({_ops(s.yields)})")
    return lines


def format_function(fn: Function) -> str:
    head = f"def {fn.name}({_names(fn.params)}):"
    return "\n".join([head] + format_body(fn.body) + [f"  return {format_operand(fn.result)}"])


# --------------------------------------------------------------------------- checker
class IRCheckError(SrcgradError):
    """The IR broke an invariant: a compiler bug, reported with the statements around it."""


def check(fn: Function) -> None:
    """Verify single assignment and that every use sees a definition in scope."""
    defined: set[str] = set()

    def fail(msg, stmt):
        listing = "\n".join(format_body([stmt]))
        raise IRCheckError(f"IR check failed: {msg}\n{listing}", getattr(stmt, "loc", None))

    def define(name, stmt):
        if name in defined:
            fail(f"%{name} defined twice", stmt)
        defined.add(name)

    def use(ops, scope, stmt):
        for op in ops:
            for n in operand_vars(op):
                if n not in scope:
                    fail(f"%{n} used but not defined in scope", stmt)

    def block(body, scope):
        scope = set(scope)
        for s in body:
            use(used_operands(s), scope, s)
            if isinstance(s, If):
                for sub, ys in ((s.then_body, s.then_yields), (s.else_body, s.else_yields)):
                    inner = block(sub, scope)
                    use(ys, inner, s)
                if not (len(s.outs) == len(s.then_yields) == len(s.else_yields)):
                    fail("if yields do not match its outputs", s)
            elif isinstance(s, (For, While)):
                inner_scope = set(scope)
                if isinstance(s, For):
                    define(s.index, s)
                    inner_scope.add(s.index)
                for c in s.carried:
                    define(c, s)
                    inner_scope.add(c)
                if isinstance(s, While):
                    inner_scope = block(s.cond_body, inner_scope)
                    use([s.cond], inner_scope, s)
                inner = block(s.body, inner_scope)
                use(s.yields, inner, s)
                if not (len(s.carried) == len(s.inits) == len(s.yields) == len(s.outs)):
                    fail("loop carried values do not match", s)
            for n in defined_names(s):
                define(n, s)
                scope.add(n)
        return scope

    scope = set()
    for p in fn.params:
        define(p, fn)
        scope.add(p)
    scope = block(fn.body, scope)
    use([fn.result], scope, fn)
