"""Vision transformers by name (issue 20): timm's options in the name, specs per family, the one
token-map rule, and Grad-CAM against the grad-cam package with its ``reshape_transform``. Tiny
models at 32 px; specs of the released (224 px) ones are read on the meta device (no memory)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.cam import CamError, default_cam_layer, distilled_and_residual, grad_cam
from engine.cam.hooks import output_hooks
from engine.models import (
    ModelError,
    NotAConvNetError,
    build_model,
    default_feature_cut,
    get_spec,
    map_rule,
)
from engine.models.timm_options import arch_label, split_options

TINY = "img_size=32&patch_size=4&depth=2&embed_dim=48&num_heads=3"
VIT = f"timm:vit_tiny_patch16_224?{TINY}"
DEIT_DISTILLED = f"timm:deit_tiny_distilled_patch16_224?{TINY}"
SWIN = "timm:swin_tiny_patch4_window7_224?img_size=32&window_size=4&embed_dim=24&depths=2,2&num_heads=2,4"


def _model(arch: str, seed: int, classes: int = 4) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(arch, classes).eval()


def test_importing_the_models_does_not_import_timm() -> None:
    code = "import sys, engine.models; sys.exit(3 if 'timm' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_options_are_read_written_back_and_checked_with_plain_messages() -> None:
    name, options = split_options("vit_tiny_patch16_224?img_size=32&depths=2,2&qkv_bias=false&mlp_ratio=2.5")
    assert name == "vit_tiny_patch16_224"
    assert options == {"img_size": 32, "depths": (2, 2), "qkv_bias": False, "mlp_ratio": 2.5}
    assert arch_label("timm:", name, options) == (
        "timm:vit_tiny_patch16_224?img_size=32&depths=2,2&qkv_bias=false&mlp_ratio=2.5"
    )
    spec = get_spec(VIT)
    assert spec.name == VIT and spec.input_size == 32
    with pytest.raises(ModelError, match="takes no option 'img_sz'; did you mean img_size"):
        get_spec("timm:vit_tiny_patch16_224?img_sz=32")
    with pytest.raises(ModelError, match="key=value pairs joined by &"):
        get_spec("timm:vit_tiny_patch16_224?img_size")
    with pytest.raises(ModelError, match="class count from the data"):
        get_spec("timm:vit_tiny_patch16_224?num_classes=3")
    with pytest.raises(ModelError, match="given twice"):
        get_spec("timm:vit_tiny_patch16_224?depth=2&depth=3")


# arch -> (CAM layer, metric taps, feature cut, input size), all read off timm's own model
FAMILIES = {
    "timm:vit_tiny_patch16_224": (
        "blocks.11.norm1", ("blocks.2", "blocks.5", "blocks.8", "blocks.11"), "head", 224,
    ),
    "timm:deit_tiny_distilled_patch16_224": (
        "blocks.11.norm1", ("blocks.2", "blocks.5", "blocks.8", "blocks.11"), "head", 224,
    ),
    "timm:swin_tiny_patch4_window7_224": (
        "layers.3", ("layers.0", "layers.1", "layers.2", "layers.3"), "head.fc", 224,
    ),
    "timm:levit_128s": ("stages.2", ("stages.0", "stages.1", "stages.2"), "head.linear", 224),
    "timm:mobilevit_xxs": ("final_conv", ("stages.1", "stages.2", "stages.3", "final_conv"), "head.fc", 256),
    VIT: ("blocks.1.norm1", ("blocks.0", "blocks.1"), "head", 32),
}  # fmt: skip


@pytest.mark.parametrize("arch", list(FAMILIES))
def test_specs_per_family_come_from_the_model(arch: str) -> None:
    spec = get_spec(arch)
    assert (spec.cam_layer, spec.metric_taps, spec.feature_cut, spec.input_size) == FAMILIES[arch]


def test_models_without_foldable_maps_are_refused_with_the_reason() -> None:
    with pytest.raises(NotAConvNetError, match="does not reach the logits"):
        get_spec("timm:pit_ti_224")  # its class token travels beside the last stage's maps
    with pytest.raises(NotAConvNetError, match=r"gives list"):
        get_spec("timm:crossvit_tiny_240")


def _fold(tokens: torch.Tensor, side: int) -> torch.Tensor:
    """The grad-cam package's documented reshape_transform for ViTs, generalised to any number of
    leading tokens; for Swin a plain channel move."""
    if tokens.ndim == 4:
        return tokens.permute(0, 3, 1, 2)
    n, count, channels = tokens.shape
    return tokens[:, count - side * side :, :].reshape(n, side, side, channels).permute(0, 3, 1, 2)


@pytest.mark.parametrize(("arch", "side"), [(VIT, 8), (DEIT_DISTILLED, 8), (SWIN, 4)])
def test_grad_cam_of_a_transformer_equals_the_grad_cam_package(arch: str, side: int) -> None:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, spec = _model(arch, 0), get_spec(arch)
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ours = grad_cam(model, spec.cam_layer, images)
    layer = [model.get_submodule(spec.cam_layer)]
    with GradCAM(model=model, target_layers=layer, reshape_transform=lambda t: _fold(t, side)) as cam:
        theirs = cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in ours.targets])
    assert ours.signed.shape == (3, side, side) and float(ours.maps.max()) > 0.99
    np.testing.assert_allclose(ours.maps, theirs, atol=1e-5, rtol=0)


def test_metric_taps_drop_the_class_and_distillation_tokens_by_the_same_rule() -> None:
    model = _model(DEIT_DISTILLED, 0)
    assert map_rule(model).prefix_tokens == 2 and map_rule(model).grid == (8, 8)
    raw, maps = {}, {}
    hook = model.blocks[1].register_forward_hook(lambda _m, _i, out: raw.update(tokens=out))
    with torch.no_grad(), output_hooks(model, ["blocks.1"], lambda name, m: maps.update({name: m})):
        model(torch.randn(2, 3, 32, 32))
    hook.remove()
    assert maps["blocks.1"].shape == (2, 48, 8, 8)
    torch.testing.assert_close(maps["blocks.1"], _fold(raw["tokens"], 8), rtol=0, atol=0)
    swin, swin_maps = _model(SWIN, 0), {}
    with torch.no_grad(), output_hooks(swin, ["layers.0"], lambda name, m: swin_maps.update({name: m})):
        swin(torch.randn(2, 3, 32, 32))
    assert swin_maps["layers.0"].shape == (2, 24, 8, 8)  # channels first, from (n, 8, 8, 24)


def test_unicam_on_transformer_students_and_their_defaults() -> None:
    student, base = _model(DEIT_DISTILLED, 0), _model(DEIT_DISTILLED, 1)
    assert default_cam_layer(student) == "blocks.1.norm1" and default_feature_cut(student) == "head"
    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    distilled, residual = distilled_and_residual(student, base, images, labels)
    for result in (distilled, residual):
        assert result.maps.shape == (8, 32, 32) and np.isfinite(result.maps).all()
        assert float(result.maps.max()) > 0.99 and not result.no_unique_features


def test_a_transformer_built_for_32_px_says_what_to_change_at_64_px() -> None:
    model = _model(VIT, 0)
    with pytest.raises(CamError, match=r"built for 32 x 32 px.*--image-size 32.*img_size=64"):
        grad_cam(model, "blocks.1.norm1", torch.randn(1, 3, 64, 64))
