"""The engine must import and work where no Qt binding can be imported (STYLE.md)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import engine

BLOCKER = r"""
import importlib.abc, sys
BLOCKED = ("PySide6", "PySide2", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "shiboken6")

class _NoQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the engine must not import Qt")
        return None

sys.meta_path.insert(0, _NoQt())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
print("imported", len(sys.argv) - 1, "modules")
"""


def _engine_modules() -> list[str]:
    root = Path(engine.__file__).parent
    names = ["engine"]
    for info in pkgutil.walk_packages([str(root)], prefix="engine."):
        if not info.name.endswith(".__main__"):  # runs the command line when imported
            names.append(info.name)
    return names


def test_every_engine_module_imports_without_qt():
    modules = _engine_modules()
    assert "engine.stats" in modules
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, *modules], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"imported {len(modules)} modules" in result.stdout


def test_blocker_really_blocks_qt():
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, "pyqtgraph"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "blocked" in result.stderr
