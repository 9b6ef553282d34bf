"""The one-way flow is checked, not hoped for: import-linter's contracts (pyproject.toml,
``[tool.importlinter]``) hold — the core imports no I/O and nothing of the adapters or the
edge, adapters never import the edge, and the packages stay in their layers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), "import-linter is a test dependency: make install"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "6 kept, 0 broken" in done.stdout, done.stdout[-2000:]
