"""Suite-wide settings: headless Qt, few torch threads, seeded and quiet, one numba cache per
xdist worker, and the `dcor` reference imported only by the tests that use it.

Why the numba cache: `dcor` (the reference for engine.stats) compiles its numba kernels when it is
imported (``njit`` with explicit signatures and ``cache=True``, and a ``guvectorize``d row-wise
kernel), caching them in its own ``__pycache__`` in the virtual environment, shared by every
worker. Workers that import it a few seconds apart with a cold cache race (numba issue #10128):
the gufunc's wrapper and its kernel are cached by different processes whose kernels carry
different ABI tags, and a worker that loads the mismatched pair aborts in LLVM's
``finalize_object`` ("LLVM ERROR: Symbol not found: __gufunc__..."), so xdist reports "node
down: Not properly terminated". Each worker therefore gets its own cache folder (set before numba
is imported), and `dcor` is imported by the ``dcor`` fixture, never while tests are collected.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if os.environ.get("PYTEST_XDIST_WORKER"):  # set by xdist before this file is imported
    os.environ["NUMBA_CACHE_DIR"] = str(
        Path(__file__).resolve().parents[1] / ".pytest_cache" / "numba" / os.environ["PYTEST_XDIST_WORKER"]
    )

import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def dcor():
    """The `dcor` package, the independent reference for engine.stats (SPEC §2), imported on first
    use (it compiles numba kernels; see the module docstring)."""
    import dcor as reference

    return reference
