"""Entry script of the `kdlens` bundle: `multiprocessing.freeze_support()`, then `gui.app.main`.

`-m engine.distributed.rank PAYLOAD` is how `--nproc N` starts each rank (engine.distributed.launch
runs ``sys.executable -m engine.distributed.rank``; in the bundle the app is the executable).
`--bundle-check` (bundle builders only) answers "is everything inside?" without the app: it
imports the stack, runs a small torch step, round-trips safetensors, draws a pyqtgraph image
offscreen and reads a shipped resource, then prints one line and exits 0 (1 with the reason).
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _check_torch() -> str:
    import safetensors.torch
    import torch
    import torchvision

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    images = torch.rand(2, 3, 16, 16, requires_grad=True)
    conv(images).square().mean().backward()
    if images.grad is None or not torch.isfinite(images.grad).all():
        raise RuntimeError("torch backward produced no finite gradient")
    blob = safetensors.torch.save({"weight": conv.weight.detach()})
    if not torch.equal(safetensors.torch.load(blob)["weight"], conv.weight.detach()):
        raise RuntimeError("safetensors round trip changed the weights")
    torchvision.models.resnet18(num_classes=3)  # architecture table used by engine.models
    # ROAD faithfulness: its imputer's CPU solver (scipy's sparse LU) must be inside
    from engine.evidence.imputation import impute

    keep = torch.rand(1, 8, 8) > 0.5
    keep[0, 0, 0] = True
    imputed = impute(torch.rand(1, 3, 8, 8), keep, solver="direct")
    if imputed.shape != (1, 3, 8, 8) or not torch.isfinite(imputed).all():
        raise RuntimeError("ROAD's imputer (scipy's sparse LU) did not run")
    return f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()})"


def _check_qt() -> str:
    import numpy as np
    import pyqtgraph
    from PySide6 import __version__ as pyside_version
    from PySide6.QtWidgets import QApplication

    from gui.resources import APP_ICON, resource_path

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([])
    image = pyqtgraph.ImageItem(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8))
    view = pyqtgraph.PlotWidget()
    view.addItem(image)
    view.resize(64, 64)
    if view.grab().isNull():
        raise RuntimeError("pyqtgraph could not render offscreen")
    from PySide6.QtGui import QIcon

    if QIcon(str(resource_path(APP_ICON))).isNull():
        raise RuntimeError(f"the shipped icon {APP_ICON} did not load")
    view.close()
    app.processEvents()
    return f"PySide6 {pyside_version}, pyqtgraph {pyqtgraph.__version__}"


def _check_bundle_files() -> None:
    if getattr(sys, "frozen", False):
        shm_manager = os.path.join(sys._MEIPASS, "torch", "bin", "torch_shm_manager")
        if not os.access(shm_manager, os.X_OK):
            raise RuntimeError(f"{shm_manager} is missing or not executable")


def bundle_check() -> int:
    """Import and exercise the packaged stack; one line on stdout, exit code 0 or 1."""
    try:
        import engine
        import gui.app  # noqa: F401

        _check_bundle_files()
        parts = [f"kdlens {engine.__version__}", _check_torch(), _check_qt()]
    except Exception as exc:  # the point is to report any failure in one line
        print(f"bundle check FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("bundle check ok: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    multiprocessing.freeze_support()
    if sys.argv[1:2] == ["--bundle-check"]:
        sys.exit(bundle_check())
    if sys.argv[1:3] == ["-m", "engine.distributed.rank"]:  # a rank of `--nproc N` (the app is python)
        from engine.distributed.rank import main as rank_main

        sys.exit(rank_main(sys.argv[3:]))
    from gui.app import main

    sys.exit(main())
