"""Grad-CAM against the grad-cam package, and the hooks helper's promises (SPEC §3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine.cam import CamError, LayerHooks, default_cam_layer, grad_cam
from engine.models import UnknownLayerError, build_model


def _reference(model: nn.Module, layer: nn.Module, images: torch.Tensor, targets) -> np.ndarray:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with GradCAM(model=model, target_layers=[layer]) as cam:
        return cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize(
    ("arch", "layer", "size", "target"),
    [
        ("small_cnn", "stage4", 32, None),
        ("small_cnn", "stage3", 32, [2, 0, 4]),
        ("resnet18", "layer4.1", 64, None),
        ("resnet18", "layer3", 64, 7),
    ],
)
def test_grad_cam_equals_grad_cam_package(arch, layer, size, target):
    torch.manual_seed(3)
    model = build_model(arch, 10 if arch == "resnet18" else 5)
    n = 3 if arch == "small_cnn" else 2
    images = torch.randn(n, 3, size, size)
    ours = grad_cam(model, layer, images, target=target)
    expected_targets = model.eval()(images).argmax(1) if target is None else torch.as_tensor(target)
    expected_targets = expected_targets.expand(n) if expected_targets.ndim == 0 else expected_targets
    np.testing.assert_array_equal(ours.targets, expected_targets.numpy())
    theirs = _reference(model, model.get_submodule(layer), images, ours.targets)
    assert ours.maps.dtype == np.float32 and ours.maps.shape == (n, size, size)
    assert float(ours.maps.max()) > 0.99  # a real map, not an all-zero one
    np.testing.assert_allclose(ours.maps, theirs, atol=1e-5, rtol=0)


def test_grad_cam_raw_signed_and_probabilities_agree():
    torch.manual_seed(0)
    model = build_model("small_cnn", 4)
    images = torch.randn(3, 3, 32, 32)
    result = grad_cam(model, "stage4", images)
    with torch.no_grad():
        logits = model.eval()(images)
    np.testing.assert_allclose(result.probabilities, torch.softmax(logits, 1).numpy(), atol=1e-6)
    assert result.signed.shape == (3, 8, 8) and result.raw.shape == (3, 32, 32)
    assert (result.signed < 0).any() and (result.raw >= 0).all()
    relu = torch.from_numpy(result.signed).clamp_min(0)[:, None]
    upsampled = F.interpolate(relu, size=(32, 32), mode="bilinear", align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(result.raw, upsampled, atol=1e-6)
    low = result.raw.min(axis=(1, 2), keepdims=True)
    normalised = (result.raw - low) / (result.raw.max(axis=(1, 2), keepdims=True) - low)
    np.testing.assert_allclose(result.maps, normalised, atol=1e-5)


def test_layer_given_as_module_equals_layer_given_by_name():
    torch.manual_seed(1)
    model = build_model("small_cnn", 3)
    images = torch.randn(2, 3, 32, 32)
    by_name = grad_cam(model, "stage3", images)
    by_module = grad_cam(model, model.stage3, images)
    np.testing.assert_array_equal(by_name.maps, by_module.maps)


def test_grad_cam_restores_modes_and_requires_grad_and_leaves_no_grads():
    torch.manual_seed(2)
    model = build_model("small_cnn", 3)
    model.train()
    model.stage2.eval()
    model.stage1[0].weight.requires_grad_(False)
    grad_cam(model, "stage4", torch.randn(2, 3, 32, 32))
    assert model.training and model.stage3.training and not model.stage2.training
    assert not model.stage1[0].weight.requires_grad and model.stage4[0].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert _no_hooks(model)


class _ExplodesAfterLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Dropout(0.5))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        self.body(x)
        raise RuntimeError("boom after the target layer")


def test_hooks_released_and_state_restored_after_an_exception():
    model = _ExplodesAfterLayer()
    model.body[2].eval()
    model.head.weight.requires_grad_(False)
    modes = {name: m.training for name, m in model.named_modules()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(model, "body.1", torch.randn(2, 3, 8, 8))
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
    assert _no_hooks(model)
    assert all(p.grad is None for p in model.parameters())


def test_layer_hooks_keep_the_layer_output_despite_in_place_ops_later():
    torch.manual_seed(4)
    model = build_model("small_cnn", 3)  # stage4 = conv, batch norm, ReLU(inplace=True)
    images = torch.randn(2, 3, 32, 32)
    with LayerHooks(model, ["stage4.1"], feature_cut="fc") as hooks:
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        logits = model(images)
        normed = hooks.activation("stage4.1")
        assert normed.requires_grad and (normed < 0).any()  # before the in-place ReLU
        torch.testing.assert_close(hooks.features, F.relu(normed).mean(dim=(2, 3)))
        grads = hooks.gradients(logits[:, 0].sum())
        assert grads["stage4.1"].shape == normed.shape
    assert model.training and hooks.outputs == {} and _no_hooks(model)


def test_targets_and_bad_inputs_give_clear_errors():
    torch.manual_seed(5)
    model = build_model("small_cnn", 3)
    images = torch.randn(2, 3, 16, 16)
    with pytest.raises(CamError, match=r"\[0, 2\]"):
        grad_cam(model, "stage4", images, target=3)
    with pytest.raises(CamError, match="2 integer class indices"):
        grad_cam(model, "stage4", images, target=[0, 1, 2])
    with pytest.raises(CamError, match="batch"):
        grad_cam(model, "stage4", images[0])
    with pytest.raises(UnknownLayerError, match="stage4"):
        grad_cam(model, "stage44", images)
    with pytest.raises(CamError, match="convolutional layer"):
        grad_cam(model, "fc", images)
    with pytest.raises(CamError, match="not a submodule"):
        grad_cam(model, nn.Conv2d(3, 3, 1), images)
    assert _no_hooks(model)


def test_default_cam_layer_per_family():
    expected = {
        "resnet18": "layer4.1",
        "resnet50": "layer4.2",
        "small_cnn": "stage4",
        "mobilenet_v2": "features.18",
        "vgg11_bn": "features.27",
    }
    for arch, layer in expected.items():
        with torch.device("meta"):  # structure only: no time spent initialising weights
            model = build_model(arch, 3)
        assert default_cam_layer(model) == layer, arch
