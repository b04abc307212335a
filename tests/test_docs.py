"""The documentation stays true: the primitive table matches the registry, the quickstart runs."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args, timeout=300):
    env = dict(os.environ)
    # make the checkout importable even when srcgrad is not installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_primitive_table_is_up_to_date():
    # A fresh interpreter: rules registered by other tests must not leak into the table.
    proc = _run(["tools/gen_rule_table.py", "--check"])
    assert proc.returncode == 0, (
        "docs/primitives.md does not match srcgrad's rule registry; regenerate it with\n"
        "    python tools/gen_rule_table.py\n\n" + proc.stdout + proc.stderr)


def test_primitive_table_lists_every_builtin_rule():
    import srcgrad  # noqa: F401
    from srcgrad.rules.registry import all_primitives

    text = (ROOT / "docs" / "primitives.md").read_text()
    for prim in all_primitives():
        internal = (getattr(prim.fn, "__module__", None) or "").startswith("srcgrad.runtime")
        if not prim.user and not internal:    # helpers of generated code are not listed
            assert f"| `{prim.name}` |" in text, prim.name


def test_quickstart_runs():
    proc = _run(["examples/quickstart.py"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "def " in proc.stdout, proc.stdout
    assert "central difference" in proc.stdout


def test_readme_shows_the_code_srcgrad_generates():
    proc = _run(["tools/update_readme.py", "--check"])
    assert proc.returncode == 0, (
        "README.md shows generated code that differs from what examples/quickstart.py "
        "prints now; regenerate it with\n    python tools/update_readme.py\n\n"
        + proc.stdout + proc.stderr)


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    assert "python examples/quickstart.py" in readme
    assert "python -m pytest -q" in readme
    assert (ROOT / "examples" / "quickstart.py").exists()
    assert "python -m pytest -m fuzz --fuzz-count 10000" in readme
    assert "--fuzz-count" in (ROOT / "tests" / "conftest.py").read_text()
