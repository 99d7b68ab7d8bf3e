"""The packaging helpers: bundle sizes, shipped resources, and the scripts' exits (no build)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import KDLensError
from gui import resources

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "build_scripts"


def _load_bundle_size():
    spec = importlib.util.spec_from_file_location("bundle_size", SCRIPTS / "bundle_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    root = tmp_path / "kdlens"
    files = {
        "kdlens": 10,
        "_internal/torch/lib/libtorch_cpu.so": 5000,
        "_internal/torch/include/ATen/ops.h": 700,
        "_internal/torch/bin/torch_shm_manager": 30,
        "_internal/nvidia/cu13/lib/libcublasLt.so.13": 3000,
        "_internal/base_library.zip": 200,
    }
    for name, size in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    (root / "_internal/libtorch_cpu.so").symlink_to(root / "_internal/torch/lib/libtorch_cpu.so")
    return root


def test_bundle_size_counts_files_once_and_orders_parts(fake_bundle: Path) -> None:
    bundle_size = _load_bundle_size()
    assert bundle_size.total_size(fake_bundle) == 10 + 5000 + 700 + 30 + 3000 + 200  # link: 0
    files = bundle_size.largest_parts(fake_bundle, 2)
    assert files == [("torch/lib/libtorch_cpu.so", 5000), ("nvidia/cu13/lib/libcublasLt.so.13", 3000)]
    folders = dict(bundle_size.largest_parts(fake_bundle, 10, depth=2))
    assert folders["torch/lib"] == 5000 and folders["torch/include"] == 700
    assert folders["kdlens"] == 10
    assert bundle_size.matching_size(fake_bundle, "torch/include/*") == 700
    assert bundle_size.matching_size(fake_bundle, "*.so*") == 8000


def test_bundle_size_cli_reports_total_and_missing_folder(fake_bundle: Path, capsys) -> None:
    bundle_size = _load_bundle_size()
    assert bundle_size.main([str(fake_bundle), "--top", "1", "--match", "nvidia/*"]) == 0
    out = capsys.readouterr().out
    assert "8.7 KiB" in out and "torch/lib/libtorch_cpu.so" in out and "nvidia/*: 2.9 KiB" in out
    assert bundle_size.main([str(fake_bundle / "absent")]) == 2


def test_resources_found_through_importlib() -> None:
    assert resources.APP_ICON in resources.resource_names()
    assert "__init__.py" not in resources.resource_names()
    path = resources.resource_path(resources.APP_ICON)
    assert path.is_file() and path.read_bytes() == resources.resource_bytes(resources.APP_ICON)
    assert resources.resource_bytes(resources.APP_ICON).lstrip().startswith(b"<svg")
    with pytest.raises(KDLensError, match="missing"):
        resources.resource_bytes("no-such-icon.png")


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPTS / script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_build_script_refuses_without_pinned_venv(tmp_path: Path) -> None:
    result = _run("build_bundle.sh", {"KDLENS_VENV": str(tmp_path / "no-venv")})
    assert result.returncode == 2
    assert "make test" in result.stderr and "no-venv" in result.stderr


def _fake_app(tmp_path: Path, body: str) -> Path:
    app = tmp_path / "kdlens"
    app.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    app.chmod(0o755)
    return app


def test_selftest_runner_passes_exit_codes_through(tmp_path: Path) -> None:
    assert _run("run_bundle_selftest.sh", {"KDLENS_BUNDLE": str(tmp_path / "none")}).returncode == 2
    failing = _fake_app(tmp_path, "sys.exit(3 if sys.argv[1:] == ['--self-test'] else 0)")
    result = _run("run_bundle_selftest.sh", {"KDLENS_BUNDLE": str(failing)})
    assert result.returncode == 3 and "'--self-test' failed" in result.stderr
    hanging = _fake_app(tmp_path, "time.sleep(30)")
    result = _run("run_bundle_selftest.sh", {"KDLENS_BUNDLE": str(hanging), "KDLENS_SELFTEST_TIMEOUT": "1"})
    assert result.returncode == 124 and "within 1 s" in result.stderr


def test_selftest_runner_checks_the_no_display_line(tmp_path: Path) -> None:
    body = "if sys.argv[1:]: sys.exit(0)\nprint('KD Lens needs a display.'); sys.exit({rc})"
    good = _fake_app(tmp_path, body.format(rc=1))
    assert _run("run_bundle_selftest.sh", {"KDLENS_BUNDLE": str(good)}).returncode == 0
    silent_success = _fake_app(tmp_path, body.format(rc=0))
    result = _run("run_bundle_selftest.sh", {"KDLENS_BUNDLE": str(silent_success)})
    assert result.returncode == 1 and "one line and exit 1" in result.stderr
