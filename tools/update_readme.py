"""Paste the real output of examples/quickstart.py into README.md.

The README shows what ``python examples/quickstart.py`` prints, between the markers
``<!-- quickstart-output:start -->`` and ``<!-- quickstart-output:end -->``.  Usage, from
the repository root::

    python tools/update_readme.py            # run the example, rewrite the block
    python tools/update_readme.py --check    # exit 1 if the generated code shown is stale

``--check`` compares only the deterministic part of the output (from the generated
derivative on); the printed numbers may differ in the last digit between NumPy builds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START = "<!-- quickstart-output:start -->"
END = "<!-- quickstart-output:end -->"
DETERMINISTIC_FROM = "# the generated derivative"


def quickstart_output() -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "examples/quickstart.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"examples/quickstart.py failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def block(output: str) -> str:
    return f"{START}\n```text\n$ python examples/quickstart.py\n{output.rstrip()}\n```\n{END}"


def split(text: str) -> tuple[str, str, str]:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    return text[:start], text[start:end + len(END)], text[end + len(END):]


def deterministic(text: str) -> str:
    at = text.find(DETERMINISTIC_FROM)
    return text[at:] if at >= 0 else text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the README's generated code is stale")
    args = parser.parse_args(argv)
    text = README.read_text()
    before, current, after = split(text)
    wanted = block(quickstart_output())
    if args.check:
        if deterministic(current) == deterministic(wanted):
            print("README.md quickstart output is up to date")
            return 0
        print("README.md shows generated code that examples/quickstart.py no longer prints;\n"
              "regenerate it with: python tools/update_readme.py\n")
        print(deterministic(wanted))
        return 1
    README.write_text(before + wanted + after)
    print("updated the quickstart output in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
