"""Imports point one way (docs/ARCHITECTURE.md): import-linter's contracts in pyproject.toml,
checked on the package as it is, and shown to catch an import against the direction."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    # import-linter reads the package's source (not its imported state), found through cwd.
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def test_imports_point_one_way():
    r = lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_an_upward_import_is_caught(tmp_path):
    """The model importing a report, even lazily inside a method, breaks the layers contract."""
    shutil.copytree(REPO / "pyprofnb", tmp_path / "pyprofnb", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    model = tmp_path / "pyprofnb" / "model" / "profile.py"
    model.write_text(model.read_text() + "\n\ndef _upward():\n    from ..report import make_report\n")
    r = lint(tmp_path)
    assert r.returncode != 0, r.stdout
    assert "pyprofnb.model.profile -> pyprofnb.report" in r.stdout, r.stdout
