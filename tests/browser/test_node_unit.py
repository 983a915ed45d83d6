"""Run the browser client's JS unit tests (``node --test tests/js/``) as part of pytest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
NODE_TIMEOUT_SECONDS = 120


def test_streamwire_js_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is required for the JS tests (scripts/bootstrap --tests)"
    proc = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    summary = [line for line in proc.stdout.splitlines() if line.startswith("# ")]
    failures = [line for line in proc.stdout.splitlines() if line.lstrip().startswith("not ok")]
    assert proc.returncode == 0, (
        "node --test tests/js/ failed:\n"
        + "\n".join(failures + summary)
        + "\n"
        + proc.stdout[-4000:]
        + proc.stderr[-2000:]
    )
    assert any(line.startswith("# pass ") and line != "# pass 0" for line in summary), proc.stdout
