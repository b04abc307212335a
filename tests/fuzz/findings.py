"""The minimal reproducers of tests/fuzz/FINDINGS.md, as data: one entry per cause.

Each was found by the fuzzer (shrunk by Hypothesis, then by campaign.reduce_source) and
reduced further by hand to its shortest form.  ``test_fuzz_findings.py`` runs them
through the oracle (xfail while the bug is there); ``python -m tests.fuzz.findings``
prints what srcgrad does with each now.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.fuzz.grammar import Program

HEADER = "import numpy as np\n\n\n"


@dataclass
class Finding:
    key: str
    title: str
    body: str                   # the function(s), after the numpy import
    params: list
    args: list
    kinds: tuple                # failure kinds the oracle reports while the bug is there

    @property
    def program(self) -> Program:
        return Program(HEADER + self.body.strip("\n") + "\n", self.params, self.args)


X3 = [0.062, 0.262, -0.338]

FINDINGS = [
    Finding("return-deep", "return two blocks deep falls through", """
def f(x):
    if x > 0.0:
        if x > -1.0:
            return 0.5
    return x
""", [("x", "f")], [0.062], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
    Finding("return-deep-loop", "return in a loop in a branch falls through", """
def f(x):
    if x > 0.0:
        for i in range(1):
            return 0.5
    return x
""", [("x", "f")], [0.062], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
    Finding("return-in-elif", "return in an elif body falls through (an elif is an if in an else)", """
def f(x):
    if x > 0.5:
        pass
    elif x > 0.0:
        return 0.5
    return x
""", [("x", "f")], [0.062], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
    Finding("break-deep", "break two ifs deep does not leave the loop", """
def f(x):
    s = x
    for i in range(3):
        if x > 0.0:
            if x > -1.0:
                break
        s = s * 2.0
    return s
""", [("x", "f")], [0.062], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
    Finding("continue-deep", "continue two ifs deep does not skip the rest of the body", """
def f(x):
    s = x
    for i in range(3):
        if x > 0.0:
            if x > -1.0:
                continue
        s = s * 2.0
    return s
""", [("x", "f")], [0.062], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
    Finding("break-elif", "break in an elif inside a loop (an if inside an else: two deep)", """
def f(x):
    for i in range(1):
        if x > 0.5:
            pass
        elif x > 0.0:
            break
        x = 0.5
    return x
""", [("x", "f")], [0.062], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
    Finding("slice-store-reads-itself", "slice store whose value reads the overwritten slice: "
            "the adjoint reads the new contents", """
def f(x):
    u = np.ones(3)
    u[1:] = u[1:] * x
    return np.sum(u)
""", [("x", "f")], [0.062], ("wrong-gradient",)),
    Finding("slice-store-self", "u[:] = u: the gradient through the store is lost", """
def f(x):
    u = x.copy()
    u[:] = u
    return np.sum(u)
""", [("x", "v")], [X3], ("wrong-gradient",)),
    Finding("jvp-array-literal", "jvp: IndexError for an in-place write into np.array([constants])", """
def f(x):
    u = np.array([0.5, 0.5, 0.5])
    u += x
    return np.sum(u)
""", [("x", "f")], [0.062], ("jvp-raw-exception",)),
    Finding("jvp-copy-of-constant", "jvp: IndexError for an in-place write into a copy of a "
            "constant array", """
def f(x):
    u = np.zeros(3).copy()
    u[0] = x
    return np.sum(u)
""", [("x", "f")], [0.062], ("jvp-raw-exception",)),
    Finding("alias-write-in-loop", "an alias of an array written in place inside a loop keeps "
            "the old contents", """
def f(x):
    u = np.zeros(3)
    b = u
    for i in range(1):
        u += x
    return np.sum(b)
""", [("x", "v")], [X3], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
    Finding("alias-store-in-loop", "the same with an element store", """
def f(x):
    u = x.copy()
    b = u
    for i in range(1):
        u[0] = x[1] * 3.0
    return np.sum(b)
""", [("x", "v")], [X3], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
    Finding("alias-made-in-loop", "IRCheckError: an alias made inside a loop and written in place", """
def f(x):
    u = np.zeros(3)
    for i in range(1):
        b = u
        b += x
    return np.sum(u)
""", [("x", "f")], [0.062], ("internal-error", "jvp-internal-error")),
    Finding("alias-of-fresh-array", "in-place += on an array made by arithmetic does not "
            "update its aliases", """
def f(x):
    u = np.sin(x)
    y = u
    u += y
    return np.sum(y)
""", [("x", "v")], [X3], ("wrong-value", "wrong-gradient", "jvp-wrong-value", "jvp-wrong-tangent")),
]

REFUSALS = [
    Finding("enumerate-break-in-loop", "false refusal: break in an enumerate loop nested in "
            "another loop ('item' becomes a tuple inside a loop)", """
def f(x):
    s = 0.0
    for i in range(2):
        for j, e in enumerate(x):
            break
        s += x[i]
    return s
""", [("x", "v")], [X3], ()),
    Finding("jvp-of-helper", "jvp refuses calls to the user's own functions", """
def h(a):
    return 2.0 * a


def f(x):
    return h(x)
""", [("x", "f")], [0.062], ()),
    Finding("stale-view-loop-over-array", "false refusal: for e in u, u = np.array([...]), with a "
            "store into u in the body: the scalar e is called a stale view", """
def f(x):
    u = np.array([0.5, x, 0.5])
    s = 0.0
    for e in u:
        u[0] = x
        s += e
    return s
""", [("x", "f")], [0.062], ()),
]


def main():
    import warnings

    from tests.fuzz import oracle
    warnings.simplefilter("ignore")
    for finding in FINDINGS + REFUSALS:
        out = oracle.check(finding.program, record=False)
        print(f"== {finding.key}: {finding.title}")
        print(finding.program.source.split("\n\n\n", 1)[1].rstrip())
        print(f"# {finding.program.call_text()}")
        for f in out.failures:
            print(f"  {f}")
        for r in out.refusals:
            print(f"  refused {r}")
        if out.status == "ok":
            print("  ok (fixed?)")


if __name__ == "__main__":
    main()
