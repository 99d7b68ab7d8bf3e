"""One rank of the distributed tests, run by tests/test_distributed.py under torchrun:

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/distributed_worker.py MODE ...

``metrics OUT``: the distance matrices and FSS/RS rows of fixed seeded models and images, shared
out over the ranks; rank 0 saves them to OUT. ``train CONFIG OUT``: ``kdlens-cli train`` of a
config whose roles use ``plain_cnn`` (a small CNN without batch norm: on CPUs each rank's batch
norm sees only its slice of the batch, so only a model without it can match one process).
The test imports the same inputs from here for its one-process references.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch import nn

from engine.distributed.group import Group, LocalGroup
from engine.models.registry import ARCHITECTURES
from engine.models.small_cnn import StagedCNN
from engine.models.spec import ModelSpec

TAPS = ("stage1", "stage2", "stage3", "stage4")
COLUMN_BLOCK = 700  # several column blocks per tap, owned by both ranks in turn
METRICS_BATCH = 16


def plain_cnn(num_classes: int) -> nn.Module:
    model = StagedCNN(num_classes, widths=(8, 8, 12, 16), convs=(1, 1, 1, 1))
    for stage in (model.stage1, model.stage2, model.stage3, model.stage4):
        for index, layer in enumerate(stage):
            if isinstance(layer, nn.BatchNorm2d):
                stage[index] = nn.Identity()
    return model


def register_plain_cnn() -> None:
    ARCHITECTURES["plain_cnn"] = (plain_cnn, ModelSpec("plain_cnn", "stage4", "fc", TAPS, 32))


def metrics_inputs():
    """Models (student, base, teacher), 45 images (not a multiple of the batch) and 3 classes."""
    torch.manual_seed(0)
    models = {role: plain_cnn(3).eval() for role in ("teacher", "student", "base")}
    images = torch.randn(45, 3, 32, 32)
    labels = np.arange(45) % 3
    return models, images, labels


def context_maps(group: Group = LocalGroup()) -> dict[str, np.ndarray]:
    """Every map of 24 images in UniCAM context batches of 8 (3 batches: 2 ranks explain 2 and 1)."""
    from engine.evidence.maps import explain_set

    models, images, labels = metrics_inputs()
    spec = ModelSpec("plain_cnn", "stage4", "fc", TAPS, 32)
    specs = {role: spec for role in models}
    result = explain_set(models, specs, images[:24], labels[:24], ("a", "b", "c"), batch_size=8, group=group)
    return {**result.maps, **{f"p:{role}": value for role, value in result.predictions.items()}}


def metrics(out: str, group) -> None:
    from engine import metrics as fss

    fss.COLUMN_BLOCK = COLUMN_BLOCK
    models, images, labels = metrics_inputs()
    distances = fss.tap_distances(
        models["student"], images, TAPS, batch_size=METRICS_BATCH, row_normalized=True, group=group
    )
    rows = fss.compute_metrics(
        models, images, labels, {role: TAPS for role in models}, num_classes=3, repeats=3,
        batch_size=METRICS_BATCH, fss_v=True, group=group,
    )  # fmt: skip
    maps = context_maps(group)
    if group.leader:
        saved = {"distances": {k: v.values for k, v in distances.items()}, "rows": rows, "maps": maps}
        torch.save(saved, out)
    else:
        assert rows == [] and maps == {}


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    mode = argv[0]
    if mode == "metrics":
        from engine.distributed import joined

        with joined() as group:
            assert group.world == 2
            metrics(argv[1], group)
        return 0
    if mode == "train":
        from engine.cli import main as cli

        register_plain_cnn()
        return cli(["train", "--config", argv[1], "--out", argv[2]])
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
