"""Every rule case again, this time through the compiler: source -> IR -> adjoint code.

For each case a tiny function ``f(*args, w) = sum(prim(*args, **kwargs) * w)`` is written
into a real module (the compiler reads source), differentiated with ``srcgrad.grad`` for
each differentiable argument and compared with central differences.  The weights ``w``
make every output entry matter with a different coefficient.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import srcgrad
from srcgrad.runtime.tape import add_at
from srcgrad.rules import registry
from tests.helpers import numeric_grad
from tests.rule_cases import CASES, SEED, Const


def _module_source(cases) -> str:
    lines = ["import numpy as np", "prims = {}", ""]
    for k, case in enumerate(cases):
        prim = registry.lookup(case.fn)
        n = len(case.args)
        params = [f"a{i}" for i in range(n)]
        call_args = list(params)
        if prim is not None and prim.seq_params:
            # a sequence argument arrives as separate parameters, packed in a list literal
            params, call_args = [], []
            for i, value in enumerate(case.make_args(SEED)):
                if i in prim.seq_params:
                    names = [f"a{len(params) + j}" for j in range(len(value))]
                    call_args.append("[" + ", ".join(names) + "]")
                else:
                    names = [f"a{len(params)}"]
                    call_args.append(names[0])
                params += names
        literal = _literal_args(case)
        if literal:                        # written in the call as constants (arity)
            values = case.make_args(SEED)
            call_args = [repr(values[i]) if i in literal else f"a{i}" for i in range(n)]
            params = [f"a{i}" for i in range(n) if i not in literal]
        kwargs = ", ".join(f"{key}={value!r}" for key, value in case.kwargs.items())
        call = ", ".join(call_args + ([kwargs] if kwargs else []))
        arity = prim.arity if prim is not None else None
        if callable(arity):                # a count read from the call's constant arguments
            arity = len(case(*case.make_args(SEED)))
        if arity:                          # a tuple of results, one weight array each
            total = " + ".join(f"np.sum(out[{j}] * w{j})" for j in range(arity))
            lines += [f"def f{k}({', '.join(params + [f'w{j}' for j in range(arity)])}):",
                      f"    out = prim{k}({call})", f"    return {total}", ""]
            continue
        lines += [f"def f{k}({', '.join(params + ['w'])}):",
                  f"    return np.sum(prim{k}({call}) * w)", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e") / "srcgrad_e2e_cases.py"
    path.write_text(_module_source(CASES))
    spec = importlib.util.spec_from_file_location("srcgrad_e2e_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["srcgrad_e2e_cases"] = module
    spec.loader.exec_module(module)
    for k, case in enumerate(CASES):
        setattr(module, f"prim{k}", case.fn)
    return module


def _literal_args(case) -> set:
    """The constant arguments a primitive whose number of results depends on them
    (a callable ``arity``: np.split) must see as constants in the code."""
    prim = registry.lookup(case.fn)
    if prim is None or not callable(prim.arity):
        return set()
    return {i for i, f in enumerate(case.args) if isinstance(f, Const)}


def _flat_args(case):
    args = case.make_args(SEED)
    prim = registry.lookup(case.fn)
    literal = _literal_args(case)
    if literal:
        kept = [i for i in range(len(args)) if i not in literal]
        return [args[i] for i in kept], [kept.index(i) for i in case.wrt if i in kept]
    if prim is not None and prim.seq_params:
        flat, wrt = [], []
        for i, value in enumerate(args):
            items = list(value) if i in prim.seq_params else [value]
            if i in case.wrt:
                wrt += range(len(flat), len(flat) + len(items))
            flat += items
        return flat, wrt
    return list(args), list(case.wrt)


def compiled_case(generated, k):
    """(generated f, its arguments with the weights last, wrt) for case ``k``; skips the
    cases that generated code reaches only in other forms (tested where they occur)."""
    case = CASES[k]
    if case.fn is add_at:
        pytest.skip("add_at updates its argument in place; generated code calls it only as a "
                    "statement, which tests/test_higher.py covers")
    if registry.lookup(case.fn).into:
        pytest.skip("reads a list built at run time; tests/test_lists.py builds such lists")
    args, wrt = _flat_args(case)
    args = [float(a) if isinstance(a, np.floating) else a for a in args]
    out = case(*case.make_args(SEED))
    rng = np.random.default_rng(k)
    if registry.lookup(case.fn).arity:      # one weight array per result
        weights = [rng.uniform(0.5, 1.5, size=np.shape(o)) for o in out]
    else:
        weights = [rng.uniform(0.5, 1.5, size=np.shape(out))]
    return getattr(generated, f"f{k}"), args + weights, wrt


@pytest.mark.parametrize("k", range(len(CASES)), ids=[c.id for c in CASES])
def test_rule_through_compiler(generated, k):
    case = CASES[k]
    f, full, wrt = compiled_case(generated, k)
    for i in wrt:
        if not isinstance(full[i], (float, np.ndarray)):
            continue
        got = srcgrad.grad(f, wrt=i)(*full)
        want = numeric_grad(f, full, i)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case.id}: d/d arg {i}")
