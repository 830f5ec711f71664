"""Every hostile input ends by itself, is refused with exit 2, prints no traceback, stays in memory.

The cases live in `corpus.py` (run it as a script for the figures per class).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import Case, cases, run_case

CASES = cases()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}:{c.name}" for c in CASES])
def test_hostile_input_is_refused_cleanly(case: Case, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path)
    assert not outcome.problems, (outcome.problems, outcome.stderr[-2000:])
    if outcome.code == 2:  # a refusal says what is wrong, in one short message
        assert outcome.stderr.strip(), "exit 2 without a message"
        assert len(outcome.stderr) < 20_000
