"""The README's Python examples run as written (as SimPy runs its doc examples)."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_python_examples():
    assert python_blocks(), "README.md lost its Python example"


def test_readme_python_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    for block in python_blocks():
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:20]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)
    assert "make test" in (ROOT / ".ci" / "run").read_text() and os.access(
        ROOT / ".ci" / "run", os.X_OK
    )
