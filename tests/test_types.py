"""The value-types pass on its own: element dtypes, ranks and layouts from the IR, through
branches, loops and lists, with no Numba; and the generated text does not depend on
whether Numba is installed."""

import subprocess
import sys
import textwrap

import numpy as np

from srcgrad import ir
from srcgrad.transforms import kinds
from srcgrad.transforms import types as T
from srcgrad.transforms.lower import lower
from srcgrad.transforms.parse import parse_function
from srcgrad.runtime import tape

F64_1D = ("array", 1, "float64")
F32_1D = ("array", 1, "float32")
F64_2D = ("array", 2, "float64")
FLOAT = ("float", None, "float64")
INT = ("int", None, None)


def _types(fn, *keys):
    """(IR, types) of ``fn`` for arguments of these specialization kinds."""
    fn_ir = lower(parse_function(fn), {p: k[:2] for p, k in zip(fn.__code__.co_varnames, keys)})
    return fn_ir, kinds.infer(fn_ir, keys)


def _by_user_name(fn_ir, types, user_name):
    return {types.get(n) for n, u in fn_ir.user_names.items() if u == user_name} - {None}


def scalar_loop(x):
    s = 0.0
    for i in range(len(x)):
        s = s + x[i] * x[i]
    return s


def test_loop_carried_scalar_is_float64_and_index_is_int():
    fn_ir, types = _types(scalar_loop, F64_1D)
    assert _by_user_name(fn_ir, types, "s") == {T.F64}
    assert _by_user_name(fn_ir, types, "i") == {T.I64}


def float32_rows(x):
    y = x * 2.0
    m = np.sum(y)
    return m


def test_float32_stays_float32_with_python_constants():
    fn_ir, types = _types(float32_rows, F32_1D)
    assert _by_user_name(fn_ir, types, "y") == {T.array("float32", 1)}
    assert _by_user_name(fn_ir, types, "m") == {T.scalar("float32")}


def views(a):
    t = a.T
    row = a[0]
    col = a[:, 1]
    e = a[0, 1]
    return np.sum(t) + np.sum(row) + np.sum(col) + e


def test_views_have_numba_layouts():
    fn_ir, types = _types(views, F64_2D)
    assert _by_user_name(fn_ir, types, "t") == {T.array("float64", 2, "A")}
    assert _by_user_name(fn_ir, types, "row") == {T.array("float64", 1, "C")}
    assert _by_user_name(fn_ir, types, "col") == {T.array("float64", 1, "A")}
    assert _by_user_name(fn_ir, types, "e") == {T.F64}


def unbound_before_loop(x, n):
    for i in range(n):
        last = x * i
    return last


def test_name_unbound_before_a_loop_is_optional():
    fn_ir, types = _types(unbound_before_loop, FLOAT, INT)
    lasts = _by_user_name(fn_ir, types, "last")
    assert T.replace(T.F64, optional=True) in lasts
    assert T.tape_suffix(T.replace(T.F64, optional=True)) is None   # an untyped stack
    assert T.dummy_value(T.replace(T.F64, optional=True)) is not None


def list_of_rows(x, n):
    rows = []
    for k in range(n):
        rows.append(x * k)
    return np.sum(np.stack(rows))


def test_every_version_of_a_list_has_its_items_type():
    fn_ir, types = _types(list_of_rows, F64_1D, INT)
    lists = [t for t in types.values() if t.kind == "list"]
    assert lists and all(t.item == T.array("float64", 1) for t in lists)
    assert {T.tape_suffix(t) for t in lists} == {"list_f64_1d"}
    assert "stack_f64_1d()" in ir.format_function(fn_ir)      # its typed constructor


def float32_list(x, n):
    xs = []
    for k in range(n):
        xs.append(x * 2.0)
    return np.sum(np.stack(xs))


def test_float_list_items_are_float64_as_numba_computes_them():
    fn_ir, _ = _types(float32_list, F32_1D, INT)
    assert "stack_f64_1d()" in ir.format_function(fn_ir)


def index_after(x):
    for i in range(len(x)):
        s = x[i]
    return s * i


def test_loop_values_that_are_integers_on_every_path_start_at_zero():
    fn_ir, types = _types(index_after, F64_1D)
    loop = next(s for s in fn_ir.body if isinstance(s, ir.For))
    kept = [c for c, init in zip(loop.carried, loop.inits) if fn_ir.kinds.get(c) == "int"]
    assert kept and all(init == ir.Const(0) for c, init in zip(loop.carried, loop.inits)
                        if c in kept)


def halving(x):
    while x > 1.0:
        x = np.sin(x) * x * 0.5
    return x


def comparisons(x):
    s = 0.0
    for i in range(3):
        m = x > 0.5
        s = s + np.sum(np.where(m, x, 0.0))
    return s


def test_comparison_of_arrays_is_a_bool_array():
    fn_ir, types = _types(comparisons, F64_1D)
    assert _by_user_name(fn_ir, types, "m") == {T.array("bool", 1)}


def test_join_widens_and_keeps_unknowns_out():
    assert T.join(T.I64, T.F64) == T.F64
    assert T.join(T.scalar("float32"), T.F64) == T.F64
    assert T.join(T.array("float64", 1), T.array("float64", 2)) is None
    assert T.join(None, T.F64) == T.F64
    assert T.join(T.array("float64", 1), T.array("float64", 1, "A")).layout == "A"


def test_suffixes_name_the_runtime_stacks():
    for t in (T.F64, T.I64, T.BOOL, T.array("float32", 3), T.ValueType("list", item=T.F64)):
        assert hasattr(tape, f"stack_{T.tape_suffix(t)}")


_WITHOUT_NUMBA = textwrap.dedent("""
    import sys
    if {hide}:
        sys.modules["numba"] = None          # import numba now fails, as when not installed
    import numpy as np
    sys.path.insert(0, {tests!r})
    import srcgrad
    import regression_programs as rp
    from test_types import scalar_loop, list_of_rows, views, halving
    for fn, args in [(scalar_loop, (np.ones(3),)), (list_of_rows, (np.ones(3), 4)),
                     (views, (np.ones((2, 2)),)), (halving, (30.0,))]:
        df = srcgrad.grad(fn)
        df(*args)
        print(srcgrad.show(df, file=open("/dev/null", "w")))
    print("numba imported:", "numba" in sys.modules and sys.modules["numba"] is not None)
""")


def _run(hide: bool) -> str:
    import os
    tests = os.path.dirname(__file__)
    code = _WITHOUT_NUMBA.format(hide=hide, tests=tests)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tests)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_generated_text_does_not_depend_on_numba_being_installed():
    hidden, available = _run(True), _run(False)
    text = hidden.rsplit("numba imported", 1)[0]
    assert "while " in text and "stack_f64()" in text
    assert text == available.rsplit("numba imported", 1)[0]
