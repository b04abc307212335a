"""Generate docs/primitives.md, the table of primitives srcgrad knows, from the rule registry.

The registry (``srcgrad.rules.registry``) is the single source of truth for what can be
differentiated; this script only formats it.  It writes the full table to
docs/primitives.md and a one-paragraph-per-namespace summary into README.md (between
``<!-- primitives:start -->`` and ``<!-- primitives:end -->``).  Usage, from the
repository root::

    python tools/gen_rule_table.py            # rewrite docs/primitives.md and the README block
    python tools/gen_rule_table.py --check    # exit 1 if either is stale
    python tools/gen_rule_table.py --stdout   # print the table instead

Rules registered by user code with ``srcgrad.defvjp`` are left out (``Primitive.user``);
run it in a fresh interpreter all the same, since a built-in rule re-registered with
``srcgrad.defvjp`` in the same process counts as a user rule and drops out of the table.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from srcgrad.rules.registry import ZERO

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "primitives.md"
README = ROOT / "README.md"
START = "<!-- primitives:start -->"
END = "<!-- primitives:end -->"

if str(ROOT) not in sys.path:          # usable from a checkout without `pip install`
    sys.path.insert(0, str(ROOT))


def _spellings() -> dict[int, list[str]]:
    """Python syntax that lowering turns into each primitive (``a + b``, ``x.sum()``...).

    Read from the lowering pass's own tables, so it cannot drift from what is accepted;
    tolerant of those tables being renamed (the column is then simply empty).
    """
    try:
        from srcgrad.transforms import lower
    except Exception:                  # pragma: no cover - optional decoration only
        return {}
    out: dict[int, list[str]] = {}

    def add(fn, text):
        out.setdefault(id(fn), []).append(text)

    symbols = {
        "Add": "a + b", "Sub": "a - b", "Mult": "a * b", "Div": "a / b", "FloorDiv": "a // b",
        "Mod": "a % b", "Pow": "a ** b", "MatMult": "a @ b", "Lt": "a < b", "LtE": "a <= b",
        "Gt": "a > b", "GtE": "a >= b", "Eq": "a == b", "NotEq": "a != b", "USub": "-a",
        "UAdd": "+a", "Not": "not a",
    }
    for table in ("BINOPS", "CMPOPS", "UNARY"):
        for op_cls, fn in getattr(lower, table, {}).items():
            text = symbols.get(getattr(op_cls, "__name__", ""))
            if text:
                add(fn, f"`{text}`")
    for method, fn in sorted(getattr(lower, "METHODS", {}).items()):
        add(fn, f"`x.{method}()`")
    for attribute, fn in sorted(getattr(lower, "ATTRIBUTES", {}).items()):
        add(fn, f"`x.{attribute}`")
    return out


def _differentiable_args(prim) -> str:
    if prim.nondiff:
        return "—"
    names = prim.param_names()
    args = []
    for index, rule in sorted(prim.vjps.items()):
        if rule is None or rule is ZERO:
            continue
        label = names[index] if index < len(names) else f"#{index}"
        if index in prim.seq_params:
            label += " (each array)"
        args.append(f"`{label}`")
    return ", ".join(args) if args else "none"


def _jvp(prim) -> str:
    if prim.nondiff:
        return "—"
    with_rule = {i for i, r in prim.jvps.items() if r is not None and r is not ZERO}
    wanted = {i for i, r in prim.vjps.items() if r is not None and r is not ZERO}
    if not with_rule:
        return "no"
    if wanted <= with_rule:
        return "yes"
    names = prim.param_names()
    return "partial: " + ", ".join(f"`{names[i]}`" for i in sorted(with_rule) if i < len(names))


def _jit(prim) -> str:
    """Whether generated code calling it compiles with jit=True (tests/test_rules_jit.py
    checks every such claim), or why not."""
    if prim.nondiff:
        return "as Numba"
    return "yes" if prim.no_jit is None else f"no: {prim.no_jit}"


def _builtin_primitives():
    import srcgrad  # noqa: F401  (importing srcgrad registers the built-in rules)
    from srcgrad.rules.registry import all_primitives

    # helpers of generated derivative code (differentiable for higher orders) are internal
    return [p for p in all_primitives() if not p.user
            and not (getattr(p.fn, "__module__", None) or "").startswith("srcgrad.runtime")]


def _namespace(name: str) -> tuple[str, str]:
    """(group, short name) of a registry name such as ``numpy.linalg.det`` or ``abs``."""
    for prefix, group in (("numpy.linalg.", "NumPy linear algebra (`np.linalg`)"),
                          ("numpy.", "NumPy (`np.`)"), ("math.", "`math`"),
                          ("scipy.special.", "SciPy special functions (`scipy.special`)"),
                          ("scipy.linalg.", "SciPy linear algebra (`scipy.linalg`)")):
        if name.startswith(prefix):
            return group, name[len(prefix):]
    if name.startswith("operator."):
        return "Python operators and builtins", name[len("operator."):]
    return "Python operators and builtins", name


def render_summary() -> str:
    """The README's compact list: differentiable primitives grouped by namespace."""
    primitives = _builtin_primitives()
    spellings = _spellings()
    groups: dict[str, list[str]] = {}
    for prim in primitives:
        if prim.nondiff:
            continue
        group, short = _namespace(prim.name)
        shown = spellings.get(id(prim.fn))
        if group.startswith("Python") and shown and shown[0].count("`") == 2 and \
                not shown[0].startswith("`x."):
            label = shown[0]
        else:
            label = f"`{short}`"
        if label not in groups.setdefault(group, []):
            groups[group].append(label)
    n_nondiff = sum(1 for p in primitives if p.nondiff)
    lines = [START,
             "<!-- Generated by tools/gen_rule_table.py from the rule registry; do not edit. -->"]
    for group, labels in groups.items():
        lines.append(f"- **{group}**: {', '.join(labels)}")
    restated = [f"`{p.name}`" for p in _restated()]
    if restated:
        lines.append(f"- **Restated over these**: {', '.join(restated)}")
    lines.append(f"- **Non-differentiable** ({n_nondiff}, allowed anywhere, their results carry "
                 f"no derivative): comparisons, `len`, `int`, `round`, shapes, `argmax`/`argsort`, "
                 f"rounding, array constructors (`np.zeros`, `np.arange`, `np.eye`...); the full "
                 f"list is in [docs/primitives.md](docs/primitives.md).")
    lines.append(END)
    return "\n".join(lines)


def _readme_with(summary: str) -> tuple[str, str]:
    text = README.read_text() if README.exists() else ""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        return text, text
    return text, text[:start] + summary + text[end + len(END):]


def render() -> str:
    import srcgrad

    primitives = _builtin_primitives()

    if hasattr(srcgrad, "jvp"):
        jvp_note = "they drive the forward-mode transform `srcgrad.jvp`."
    else:
        jvp_note = ("they are checked by the rule tests; srcgrad has no public forward-mode "
                    "transform yet.")

    spellings = _spellings()
    n_diff = sum(1 for p in primitives if not p.nondiff)
    lines = [
        "# Supported primitives",
        "",
        "<!-- Generated by tools/gen_rule_table.py from srcgrad.rules.registry; do not edit.",
        "     Regenerate with: python tools/gen_rule_table.py -->",
        "",
        f"srcgrad knows {len(primitives)} primitives: {n_diff} with derivative rules and "
        f"{len(primitives) - n_diff} that are non-differentiable (their results carry no "
        f"derivative: shapes, comparisons, rounding, array constructors).  A call to any "
        f"other library function runs when no differentiated value reaches its arguments, "
        f"and is refused at its line when one does; register a rule for it with "
        f"`srcgrad.defvjp`.",
        "",
        "- **Differentiable arguments**: the parameters that have a vector-Jacobian "
        "product rule (`defvjp`); a value that depends on a differentiated input is "
        "refused in any other parameter (axes, shapes, options).",
        "- **JVP rule**: whether forward-mode rules (`defjvp`) are registered too; " + jvp_note,
        "- **Non-differentiable**: the primitive may be called on anything, but its result "
        "has no derivative.",
        "- **Under jit**: whether its derivative compiles with `jit=True` (Numba, nopython "
        "mode; each claim is tested), or why not; a non-differentiable primitive runs under "
        "jit where Numba supports it (\"as Numba\").",
        "- **Also written as**: Python syntax that srcgrad lowers to this primitive.",
        "",
        "| Primitive | Differentiable arguments | JVP rule | Non-differentiable | Under jit | "
        "Also written as |",
        "|---|---|---|---|---|---|",
    ]
    for prim in primitives:
        also = ", ".join(spellings.get(id(prim.fn), []))
        lines.append(f"| `{prim.name}` | {_differentiable_args(prim)} | {_jvp(prim)} | "
                     f"{'yes' if prim.nondiff else 'no'} | {_jit(prim)} | {also} |")
    restated = _restated()
    if restated:
        lines += ["", "## Restated over primitives", "",
                  "Lowering inlines a plain Python restatement of these "
                  "(`srcgrad/rules/restated.py`) in their place, computing the same values, so "
                  "their derivatives come from the rules of the primitives they use.", "",
                  "| Function | Restated with |", "|---|---|"]
        lines += [f"| `{prim.name}` | {_pieces(prim.restated)} |" for prim in restated]
    known = _known_without_rules()
    if known:
        lines += ["", "## Known, without rules", "",
                  "These run where no differentiated value reaches them; where one does, the "
                  "call is refused at its line with this reason.", "",
                  "| Function | Why |", "|---|---|"]
        lines += [f"| `{prim.name}` | {prim.why_no_rule} |" for prim in known]
    return "\n".join(lines) + "\n"


def _restated():
    from srcgrad.rules.registry import _REGISTRY

    return sorted((p for p in _REGISTRY.values() if p.restated), key=lambda p: p.name)


def _pieces(fn) -> str:
    """The functions a restatement calls, as its source spells them."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    names = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    return ", ".join(f"`{n}`" for n in dict.fromkeys(names))


def _known_without_rules():
    """Library functions the registry knows by name only, with why they have no rule."""
    from srcgrad.rules.registry import _REGISTRY

    return sorted((p for p in _REGISTRY.values() if p.why_no_rule and not p.has_rules()),
                  key=lambda p: p.name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="do not write; exit 1 if the file differs from the registry")
    mode.add_argument("--stdout", action="store_true", help="print the table")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    readme_now, readme_wanted = _readme_with(render_summary())
    if args.check:
        stale = 0
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        for path, have, want in ((OUTPUT, current, text), (README, readme_now, readme_wanted)):
            if have != want:
                stale += 1
                label = str(path.relative_to(ROOT))
                sys.stdout.writelines(difflib.unified_diff(
                    have.splitlines(True), want.splitlines(True),
                    f"{label} (checked in)", f"{label} (from the registry)"))
                print(f"\n{label} is out of date: run python tools/gen_rule_table.py")
        if not stale:
            print("docs/primitives.md and the README's primitive list are up to date")
        return 1 if stale else 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    if readme_wanted != readme_now:
        README.write_text(readme_wanted)
        print("updated the primitive list in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
