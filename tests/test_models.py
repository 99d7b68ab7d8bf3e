"""The architecture registry: every model builds, its named layers resolve, errors name matches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.errors import KDLensError
from engine.models import (
    ModelError,
    ModelSpec,
    UnknownArchitectureError,
    UnknownLayerError,
    build_model,
    default_feature_cut,
    get_layer,
    get_spec,
    layer_names,
    list_architectures,
)

REQUIRED = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "vgg11_bn",
    "vgg16_bn",
    "efficientnet_b0",
    "large_cnn",
    "small_cnn",
]
# The CIFAR KD zoo (tests/test_zoo_models.py checks each one's keys and layers).
CIFAR_ZOO = [
    *(f"resnet{depth}" for depth in (8, 14, 20, 32, 44, 56, 110)),
    "resnet8x4",
    "resnet32x4",
    "wrn_16_1",
    "wrn_16_2",
    "wrn_40_1",
    "wrn_40_2",
    "vgg8",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "MobileNetV2",
    "mobile_half",
    "ShuffleV2",
]


def test_registry_lists_every_required_architecture() -> None:
    assert sorted(list_architectures()) == sorted(REQUIRED + CIFAR_ZOO)
    for arch in REQUIRED + CIFAR_ZOO:
        spec = get_spec(arch)
        assert isinstance(spec, ModelSpec) and spec.name == arch
        assert 3 <= len(spec.metric_taps) <= 4


@pytest.mark.parametrize(
    ("arch", "cam_layer", "feature_cut"),
    [
        ("resnet18", "layer4.1", "fc"),
        ("resnet34", "layer4.2", "fc"),
        ("resnet50", "layer4.2", "fc"),
        ("resnet101", "layer4.2", "fc"),
        ("mobilenet_v2", "features.18", "classifier.1"),
        ("mobilenet_v3_small", "features.12", "classifier.3"),
        ("vgg16_bn", "features.42", "classifier.6"),
        ("small_cnn", "stage4", "fc"),
    ],
)
def test_documented_defaults(arch: str, cam_layer: str, feature_cut: str) -> None:
    spec = get_spec(arch)
    assert (spec.cam_layer, spec.feature_cut) == (cam_layer, feature_cut)
    if arch.startswith("resnet"):
        assert spec.metric_taps == ("layer1", "layer2", "layer3", "layer4")


@pytest.mark.parametrize("arch", REQUIRED)
def test_every_architecture_builds_and_its_layers_resolve(arch: str) -> None:
    torch.manual_seed(0)
    spec = get_spec(arch)
    model = build_model(arch, 3).eval()
    size = 32 if arch in ("small_cnn", "large_cnn") else 64
    images = torch.rand(2, 3, size, size)

    cut = get_layer(model, spec.feature_cut)
    assert isinstance(cut, nn.Linear) and cut.out_features == 3
    assert default_feature_cut(model) == spec.feature_cut

    outputs: dict[str, torch.Tensor] = {}
    names = [spec.cam_layer, *spec.metric_taps]
    hooks = [
        get_layer(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: outputs.update({name: out})
        )
        for name in names
    ]
    hooks.append(cut.register_forward_hook(lambda _m, inputs, _o: outputs.update({"cut_in": inputs[0]})))
    with torch.no_grad():
        logits = model(images)
    for hook in hooks:
        hook.remove()

    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    for name in names:
        assert outputs[name].ndim == 4 and outputs[name].shape[0] == 2, name
    assert outputs["cut_in"].shape == (2, cut.in_features)
    # Taps go deeper: spatial size never grows along them.
    sides = [outputs[name].shape[-1] for name in spec.metric_taps]
    assert sides == sorted(sides, reverse=True)
    assert set(names) <= set(layer_names(model))


def test_small_cnns_keep_an_8x8_cam_at_32px_and_pool_adaptively() -> None:
    torch.manual_seed(0)
    for arch in ("small_cnn", "large_cnn"):
        model = build_model(arch, 4).eval()
        seen: list[torch.Size] = []
        hook = model.stage4.register_forward_hook(lambda _m, _i, out, seen=seen: seen.append(out.shape))
        with torch.no_grad():
            assert model(torch.rand(1, 3, 32, 32)).shape == (1, 4)
            assert model(torch.rand(1, 3, 96, 80)).shape == (1, 4)
        hook.remove()
        assert [tuple(s[-2:]) for s in seen] == [(8, 8), (24, 20)]
    small = sum(p.numel() for p in build_model("small_cnn", 4).parameters())
    large = sum(p.numel() for p in build_model("large_cnn", 4).parameters())
    assert large > 4 * small


def test_small_cnn_learns_an_easy_task() -> None:
    """A colour-coded 2-class task: 25 SGD steps should fit it (the student must be able to learn)."""
    torch.manual_seed(0)
    labels = torch.randint(0, 2, (32,))
    images = torch.rand(32, 3, 16, 16) * 0.5
    images[:, 0] += labels[:, None, None].float() * 0.5
    model = build_model("small_cnn", 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(25):
        loss = nn.functional.cross_entropy(model(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        accuracy = (model.eval()(images).argmax(1) == labels).float().mean().item()
    assert accuracy > 0.9


def test_build_is_reproducible_per_seed() -> None:
    torch.manual_seed(3)
    first = build_model("small_cnn", 3).state_dict()
    torch.manual_seed(3)
    second = build_model("small_cnn", 3).state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_unknown_architecture_names_close_matches_and_known_names() -> None:
    with pytest.raises(UnknownArchitectureError) as caught:
        build_model("resnet19", 3)
    message = str(caught.value)
    assert "resnet19" in message and "did you mean resnet18" in message
    assert all(arch in message for arch in REQUIRED)
    assert isinstance(caught.value, KDLensError)
    assert get_spec("MobileNet-V2").name == "mobilenet_v2"


def test_unknown_layer_names_close_matches() -> None:
    model = build_model("resnet18", 3)
    with pytest.raises(UnknownLayerError) as caught:
        get_layer(model, "layer4.2")
    assert "layer4.2" in str(caught.value) and "layer4.1" in str(caught.value)
    with pytest.raises(UnknownLayerError, match="top-level layers are: .*layer4"):
        get_layer(model, "zzzzzz")
    assert isinstance(caught.value, KDLensError)


def test_bad_class_count_and_model_without_linear() -> None:
    with pytest.raises(ModelError, match="at least 2 classes"):
        build_model("small_cnn", 1)
    with pytest.raises(UnknownLayerError, match="no nn.Linear"):
        default_feature_cut(nn.Sequential(nn.Conv2d(3, 4, 3)))
    assert default_feature_cut(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))) == "2"
