"""The CIFAR KD zoo (RepDistiller / mdistiller names and parameter names) and timm models by name:
they build, their parameters are named and counted as the papers' code has them, their CAM
layers and stage taps resolve, and Grad-CAM and UniCAM run on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.cam import grad_cam, unicam
from engine.models import (
    NotAConvNetError,
    UnknownArchitectureError,
    build_model,
    get_layer,
    get_spec,
    list_architectures,
    timm_architectures,
)

# Parameter counts (millions, 100 classes) as the CIFAR-100 KD papers tabulate them
# (CRD, Tian et al. 2020; DKD, Zhao et al. 2022), to their two decimals.
PUBLISHED_MILLIONS = {
    "resnet8x4": 1.23,
    "resnet32x4": 7.43,
    "resnet20": 0.28,
    "resnet56": 0.86,
    "resnet110": 1.74,
    "wrn_16_2": 0.70,
    "wrn_40_2": 2.26,
    "vgg8": 3.96,
    "vgg13": 9.46,
    "MobileNetV2": 0.81,
    "ShuffleV2": 1.36,
}
ZOO = list(PUBLISHED_MILLIONS)


def _keys(arch: str) -> set[str]:
    return set(build_model(arch, 100).state_dict())


@pytest.mark.parametrize("arch", ZOO)
def test_zoo_parameter_counts_match_the_papers(arch: str) -> None:
    count = sum(p.numel() for p in build_model(arch, 100).parameters()) / 1e6
    assert abs(count - PUBLISHED_MILLIONS[arch]) <= 0.006, (arch, count)


def test_resnet8x4_has_exactly_repdistillers_parameter_names() -> None:
    stem = {"conv1.weight"} | {f"bn1.{p}" for p in ("weight", "bias", "running_mean", "running_var")}
    expected = set(stem) | {"bn1.num_batches_tracked", "fc.weight", "fc.bias"}
    for stage in (1, 2, 3):
        block = f"layer{stage}.0"
        expected |= {f"{block}.conv1.weight", f"{block}.conv2.weight", f"{block}.downsample.0.weight"}
        for bn in ("bn1", "bn2", "downsample.1"):
            expected |= {f"{block}.{bn}.{p}" for p in ("weight", "bias", "running_mean", "running_var")}
            expected.add(f"{block}.{bn}.num_batches_tracked")
    assert _keys("resnet8x4") == expected


def test_wrn_vgg_mobilenet_shufflenet_parameter_names() -> None:
    wrn = _keys("wrn_16_2")
    # a projection shortcut only where a stage changes width: the first block of each stage
    assert {k for k in wrn if "convShortcut" in k} == {
        f"block{s}.layer.0.convShortcut.weight" for s in (1, 2, 3)
    }
    assert {"conv1.weight", "block3.layer.1.bn2.running_var", "bn1.weight", "fc.weight"} <= wrn
    assert {k.split(".")[0] for k in wrn} == {"conv1", "block1", "block2", "block3", "bn1", "fc"}

    vgg = _keys("vgg8")
    assert {"block0.0.weight", "block0.0.bias", "block0.1.running_mean", "block4.0.weight"} <= vgg
    assert "block0.2.weight" not in vgg and {"classifier.weight", "classifier.bias"} <= vgg
    assert {"block1.3.weight", "block1.4.running_var"} <= _keys("vgg13")  # conv, BN, ReLU, conv, BN

    mobile = _keys("MobileNetV2")
    assert {"conv1.0.weight", "blocks.0.0.conv.0.weight", "blocks.6.0.conv.7.running_var"} <= mobile
    assert {"conv2.0.weight", "conv2.1.weight", "classifier.0.weight"} <= mobile
    assert not any(k.startswith("blocks.7") for k in mobile)

    shuffle = _keys("ShuffleV2")
    assert {"conv1.weight", "layer1.0.conv5.weight", "layer1.0.bn5.bias", "layer1.3.conv3.weight"} <= shuffle
    assert {"layer2.7.bn3.weight", "conv2.weight", "bn2.weight", "linear.weight"} <= shuffle
    assert "layer1.1.conv4.weight" not in shuffle and "layer2.8.conv1.weight" not in shuffle


def test_zoo_names_as_the_papers_spell_them() -> None:
    names = list_architectures()
    assert {"MobileNetV2", "ShuffleV2", "resnet32x4", "wrn_40_2", "vgg13"} <= set(names)
    assert get_spec("mobilenetv2").name == "MobileNetV2"
    assert get_spec("mobile_half").feature_cut == "classifier.0"
    assert get_spec("resnet32x4").cam_layer == "layer3.4"  # the last of its five blocks per stage


@pytest.mark.parametrize("arch", ZOO)
def test_zoo_layers_resolve_and_cams_run(arch: str) -> None:
    torch.manual_seed(0)
    spec = get_spec(arch)
    model = build_model(arch, 4).eval()
    images = torch.randn(4, 3, 32, 32)
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        return lambda _module, _inputs, out: outputs.update({name: out})

    hooks = [get_layer(model, n).register_forward_hook(keep(n)) for n in (spec.cam_layer, *spec.metric_taps)]
    with torch.no_grad():
        logits = model(images)
    for hook in hooks:
        hook.remove()
    assert logits.shape == (4, 4) and spec.input_size == 32
    assert isinstance(get_layer(model, spec.feature_cut), nn.Linear)
    sides = [outputs[name].shape[-1] for name in spec.metric_taps]
    assert all(outputs[name].ndim == 4 for name in outputs) and sides == sorted(sides, reverse=True)
    result = grad_cam(model, spec.cam_layer, images)
    assert result.maps.shape == (4, 32, 32) and np.isfinite(result.maps).all()


TIMM_FAMILIES = {
    "timm:resnet26d": ("layer4", ("layer1", "layer2", "layer3", "layer4"), "fc"),
    "timm:efficientnet_b0": ("blocks.6", ("blocks.1", "blocks.2", "blocks.4", "blocks.6"), "classifier"),
    "timm:mobilenetv3_small_100": (
        "blocks.5",
        ("blocks.0", "blocks.1", "blocks.3", "blocks.5"),
        "classifier",
    ),
    "timm:convnext_atto": ("stages.3", ("stages.0", "stages.1", "stages.2", "stages.3"), "head.fc"),
    "timm:regnety_002": ("s4", ("s1", "s2", "s3", "s4"), "head.fc"),
}


@pytest.fixture
def no_pretrained_weights(monkeypatch):
    """Any attempt to load pretrained weights fails the test (nothing may be downloaded)."""
    import timm.models._builder as builder

    def refuse(*_args, **_kwargs):
        raise AssertionError("pretrained weights were requested")

    monkeypatch.setattr(builder, "load_pretrained", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("arch", list(TIMM_FAMILIES))
def test_timm_spec_comes_from_feature_info_and_cams_run(arch: str, no_pretrained_weights) -> None:
    spec = get_spec(arch)
    assert (spec.cam_layer, spec.metric_taps, spec.feature_cut) == TIMM_FAMILIES[arch]
    assert spec.name == arch and spec.input_size == 224
    torch.manual_seed(0)
    model = build_model(arch, 3).eval()
    # the stages named by timm's feature_info are the ones taps and CAMs use
    assert [info["module"] for info in model.feature_info][-4:] == list(spec.metric_taps)
    assert model.get_classifier() is get_layer(model, spec.feature_cut)
    images = torch.randn(4, 3, 64, 64)
    cam = grad_cam(model, spec.cam_layer, images)
    assert cam.maps.shape == (4, 64, 64) and np.isfinite(cam.maps).all() and cam.maps.max() > 0
    torch.manual_seed(1)
    other = build_model(arch, 3).eval()
    labels = torch.tensor([0, 1, 2, 0])
    result = unicam(model, other, spec.cam_layer, images, labels, feature_cut=(spec.feature_cut,) * 2)
    assert result.maps.shape == (4, 64, 64) and np.isfinite(result.maps).all()
    assert not result.no_unique_features


def test_timm_models_without_maps_and_unknown_names_get_clear_messages(no_pretrained_weights) -> None:
    # VOLO's stages are channels-last without saying so (no output_fmt): (n, h, w, C) is refused
    with pytest.raises(NotAConvNetError, match="channels-last") as caught:
        build_model("timm:volo_d1_224", 3)
    assert "(1, 14, 14, 384)" in str(caught.value) and "timm:resnet26d" in str(caught.value)
    with pytest.raises(NotAConvNetError, match="unrolled"):
        get_spec("timm:hiera_tiny_224")
    with pytest.raises(UnknownArchitectureError, match="did you mean timm:resnet26"):
        get_spec("timm:resnet26e")
    with pytest.raises(UnknownArchitectureError, match=r"timm:<name>.*--model-file"):
        get_spec("my_own_net")


def test_timm_names_are_listed_without_building_them() -> None:
    resnets = timm_architectures("resnet2*")
    assert "timm:resnet26d" in resnets and all(name.startswith("timm:resnet2") for name in resnets)
    everything = list_architectures(include_timm=True)
    assert len(everything) > 1000 and "timm:convnext_atto" in everything and "resnet8x4" in everything
    assert "timm:convnext_atto" not in list_architectures()
