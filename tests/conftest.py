"""Suite-wide settings: headless Qt, few torch threads, seeded and quiet."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

torch.set_num_threads(2)
