"""Parse: read a function's source with gast and resolve the names it uses.

The result carries the syntax tree, the file and first line (so every node can be
located in the user's file), and a resolver mapping free names to the objects they
denote (globals, closure cells, builtins) at transform time.

Python reads globals when a function runs, but the generated code has them resolved
(a module constant becomes a literal).  So every resolution is recorded in ``Bindings``:
which global, closure cell or attribute was read and the object it held.  A transform is
reused only while all of them still hold the same objects (``Bindings.current``, an
identity check per binding, cheap enough to run on every call); otherwise the caller
transforms again.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import linecache
import textwrap
from dataclasses import dataclass, field
import types as pytypes
from typing import Any

import numpy as np

import gast

from srcgrad.errors import Loc, SourceUnavailableError, UnsupportedSyntaxError


_MISSING = object()


class Bindings:
    """The free names (and attributes) a transform resolved, and the objects they denoted.

    Reading a name records it; a second read of the same name returns the recorded object,
    so one transform sees one consistent snapshot even if a global changes meanwhile.
    ``current()`` says whether every recorded binding still holds its object.
    """

    def __init__(self, fn):
        self.globals = fn.__globals__
        self.cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
        self.names: dict = {}            # name -> object (_MISSING if unbound)
        self.attributes: dict = {}       # (id(owner), attr) -> object
        self.checks: list = []           # [reader, owner, key, object]: the guard
        self.children: list = []         # the Bindings of callees lowered in place

    def lookup(self, name: str):
        """The object ``name`` denotes now (cell, then global, then builtin), recorded."""
        if name in self.names:
            return self.names[name]
        cell = self.cells.get(name)
        if cell is not None:
            try:
                value = cell.cell_contents
            except ValueError:           # an empty cell: the name is not bound yet
                value = _MISSING
            self.checks.append([_read_cell, cell, None, value])
        else:
            value = self.globals.get(name, _MISSING)
            self.checks.append([_read_item, self.globals, name, value])
            if value is _MISSING:
                value = builtins.__dict__.get(name, _MISSING)
                self.checks.append([_read_item, builtins.__dict__, name, value])
        self.names[name] = value
        return value

    def attribute(self, owner, attr: str, default=_MISSING):
        """``getattr(owner, attr)`` of a namespace object (module, class...), recorded."""
        key = (id(owner), attr)
        if key in self.attributes:
            value = self.attributes[key]
        else:
            value = getattr(owner, attr, _MISSING)
            self.attributes[key] = value
            self.checks.append([_read_attr, owner, attr, value])
        if value is _MISSING:
            if default is _MISSING:
                raise AttributeError(attr)
            return default
        return value

    def current(self) -> bool:
        """Whether every recorded binding still holds the object the transform used.

        Runs on every call of a derivative: one identity test per binding.  A binding
        rebound to an equal plain number (or the same bound method) is adopted, not
        treated as a change.
        """
        for check in self.checks:
            read, owner, key, old = check
            new = read(owner, key)
            if new is not old:
                if not _same(old, new):
                    return False
                check[3] = new
        return all(child.current() for child in self.children)


def _read_cell(cell, _):
    try:
        return cell.cell_contents
    except ValueError:
        return _MISSING


def _read_item(mapping, key):
    return mapping.get(key, _MISSING)


def _read_attr(owner, attr):
    return getattr(owner, attr, _MISSING)


_PLAIN = (bool, int, float, complex, str, bytes, type(None), np.number, np.bool_)


def _same(old, new) -> bool:
    """Equal for a transform's purposes though not identical: plain numbers of one type
    with one repr (which tells 0.0 from -0.0 and keeps nan equal), or bound methods of
    one function on one object (``obj.method`` makes a new one each time)."""
    if type(old) is not type(new):
        return False
    if isinstance(old, _PLAIN):
        return repr(old) == repr(new)
    if isinstance(old, pytypes.MethodType):
        return old.__self__ is new.__self__ and old.__func__ is new.__func__
    return False


@dataclass
class Parsed:
    """A parsed function: its gast node plus what is needed to locate and resolve names."""

    fn: Any
    node: Any                      # gast.FunctionDef or gast.Lambda
    file: str
    first_line: int                # line of the source's first line in the file
    col_offset: int                # indentation removed by dedent
    bound: dict = field(default_factory=dict)   # parameters fixed by a bound method/partial
    bindings: Bindings = None      # what name resolution read (the transform's guard)

    def __post_init__(self):
        if self.bindings is None:
            self.bindings = Bindings(self.fn)

    def loc(self, node) -> Loc:
        line = getattr(node, "lineno", None) or 1
        col = getattr(node, "col_offset", 0) or 0
        file_line = self.first_line + line - 1
        text = linecache.getline(self.file, file_line).rstrip("\n")
        stripped = text.lstrip()
        return Loc(self.file, file_line, col + self.col_offset - (len(text) - len(stripped)),
                   stripped)

    def resolve(self, name: str):
        """The object a free name denotes, or raise KeyError."""
        if name in self.bound:
            return self.bound[name]
        value = self.bindings.lookup(name)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def has_name(self, name: str) -> bool:
        return name in self.bound or self.bindings.lookup(name) is not _MISSING

    def attribute(self, owner, attr: str, default=_MISSING):
        """An attribute of a resolved object (``config.LAM``, ``np.sin``), recorded so a
        change to it is noticed like a change to a global."""
        return self.bindings.attribute(owner, attr, default)


def _source_of(fn):
    name = getattr(fn, "__qualname__", repr(fn))
    code = getattr(fn, "__code__", None)
    if code is None:
        raise SourceUnavailableError(
            f"cannot differentiate {name}: it is not a Python function with source "
            f"(a builtin or C function?). Register a rule with srcgrad.defvjp instead.",
            construct=name)
    try:
        # the code object, not the function: inspect would follow ``__wrapped__`` to the
        # undecorated function and silently drop what a functools.wraps wrapper does
        lines, first = inspect.getsourcelines(code)
    except (OSError, TypeError):
        raise SourceUnavailableError(
            f"cannot read the source of {name} (defined at an interactive prompt or with "
            f"exec?). Define it in a file, or register a rule with srcgrad.defvjp.",
            Loc(code.co_filename, code.co_firstlineno, 0, ""), construct=name) from None
    file = inspect.getsourcefile(fn) or code.co_filename
    return "".join(lines), max(first, 1), file


def parse_function(fn, bound=None) -> Parsed:
    """Parse ``fn`` (a def or a lambda) into gast, keeping its location and namespace.

    ``bound`` maps parameters fixed before the call (a bound method's ``self``, a
    ``functools.partial``'s positional arguments) to their values: they are resolved like
    closure values, not passed.
    """
    source, first_line, file = _source_of(fn)
    dedented = textwrap.dedent(source)
    indent = len(source.splitlines()[0]) - len(dedented.splitlines()[0]) if source.strip() else 0
    bound = dict(bound or {})
    if fn.__name__ == "<lambda>":
        node = find_lambda(fn, gast)
        if node is None:
            raise SourceUnavailableError(
                "cannot locate this lambda in its source line; define it with def",
                Loc(file, first_line, 0, source.splitlines()[0].strip()), "lambda")
        parsed = Parsed(fn, node, file, 1, 0, bound)
        refuse_unsupported_body(parsed)
        return parsed
    try:
        tree = gast.parse(dedented)
    except SyntaxError as exc:
        raise UnsupportedSyntaxError(f"cannot parse the source of {fn.__qualname__}: {exc}",
                                     Loc(file, first_line, 0, "")) from None
    defs = [n for n in tree.body if isinstance(n, (gast.FunctionDef, gast.AsyncFunctionDef))]
    if not defs:
        raise UnsupportedSyntaxError(f"no function definition found for {fn.__qualname__}",
                                     Loc(file, first_line, 0, ""))
    parsed = Parsed(fn, defs[0], file, first_line, indent, bound)
    if isinstance(defs[0], gast.AsyncFunctionDef):
        raise UnsupportedSyntaxError(
            f"{fn.__qualname__} is an 'async def' coroutine: calling it does not compute a "
            f"value, so it has no derivative. Define the computation with a plain 'def' and "
            f"differentiate that", parsed.loc(defs[0]), "async def")
    refuse_unsupported_body(parsed)
    return parsed


# constructs that change what calling the function means, found before lowering (whose
# "never returns a value" would otherwise be the first complaint): construct -> advice
_WHOLE_FUNCTION = {
    gast.Yield: ("yield", "a function containing 'yield' is a generator: calling it returns "
                 "an iterator, not a value to differentiate. Return the value instead (collect "
                 "the items in a list or an array and return it, or their sum)"),
    gast.YieldFrom: ("yield from", "a function containing 'yield from' is a generator: "
                     "calling it returns an iterator, not a value to differentiate. Return the "
                     "value instead (collect the items in a list or an array)"),
    gast.Await: ("await", "'await' is not supported: differentiate a plain function that "
                 "computes the value"),
    gast.Match: ("match", "'match' statements are not supported; write the cases as "
                 "if/elif/else (if kind == \"a\": ... elif kind == \"b\": ...)"),
}


def refuse_unsupported_body(parsed: Parsed) -> None:
    """Refuse, at its line, the first generator/``match`` construct of the function body
    (nested functions and classes are their own business)."""
    node = parsed.node
    stack = [node.body] if isinstance(node, gast.Lambda) else list(reversed(node.body))
    while stack:
        item = stack.pop()
        if isinstance(item, (gast.FunctionDef, gast.AsyncFunctionDef, gast.Lambda, gast.ClassDef)):
            continue
        found = _WHOLE_FUNCTION.get(type(item))
        if found is not None:
            construct, advice = found
            raise UnsupportedSyntaxError(advice, parsed.loc(item), construct)
        stack.extend(reversed(list(gast.iter_child_nodes(item))))


_FILE_TREES: dict = {}


def _file_tree(file: str, module):
    """Parse a whole source file once per parser module (cached by file contents)."""
    source = "".join(linecache.getlines(file))
    key = (file, module.__name__, hash(source))
    if key not in _FILE_TREES:
        _FILE_TREES[key] = module.parse(source)
    return _FILE_TREES[key]


def find_lambda(fn, module=ast):
    """Locate the lambda node whose body holds the first source position of ``fn``'s code.

    Several lambdas may share a line (``defvjp(f, lambda ...: a, lambda ...: b)``); the
    code object's instruction positions tell them apart.  Positions are absolute, so the
    whole file is parsed.  Returns None when the lambda cannot be found.
    """
    try:
        file = inspect.getsourcefile(fn) or fn.__code__.co_filename
        tree = _file_tree(file, module)
    except (OSError, TypeError, SyntaxError):
        return None
    positions = [(p[0], p[2]) for p in fn.__code__.co_positions()
                 if p[0] is not None and p[2] is not None]
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    candidates = []
    for node in module.walk(tree):
        if not isinstance(node, module.Lambda):
            continue
        args = [a.id if module is gast else a.arg for a in node.args.args]
        if tuple(args) != tuple(names) or node.lineno > fn.__code__.co_firstlineno + 50:
            continue
        b = node.body
        candidates.append((node, (b.lineno, b.col_offset), (b.end_lineno, b.end_col_offset)))
    for pos in positions:
        inside = [c for c in candidates if c[1] <= pos <= c[2]]
        if inside:
            inside.sort(key=lambda c: (c[2][0] - c[1][0], c[2][1] - c[1][1]))
            return inside[0][0]
    return None
