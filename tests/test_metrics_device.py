"""FSS/RS on the device (issue 18 item 2), checked here on CPU tensors through the same functions:
the device path equals the host path, the statistics equal the public ones bit for bit, and the
plan picks the device, parked matrices or the host by the memory it needs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_metrics import Tiny, _data

from engine import metrics, stats
from engine.data.sampling import balanced_subsamples
from engine.distributed.distances import gathered_distances
from engine.distributed.group import LocalGroup
from engine.metric_kinds import align_taps, metric_rows
from engine.metrics_plan import (
    HOST,
    PLANS,
    DeviceNeeds,
    MetricsPlan,
    choose,
    device_needs,
    metrics_plan,
    tap_widths,
)

CPU = torch.device("cpu")
DEVICE_PATH = MetricsPlan(CPU, CPU)  # plan 1 with device="cpu": features, distances and statistics there
PARKED = MetricsPlan(CPU, HOST, level=1)
HOST_PATH = MetricsPlan(HOST, HOST, level=2)


def _models():
    return {"teacher": Tiny(6, 1), "student": Tiny(4, 2), "base": Tiny(4, 3)}


def _same(a, b) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("fss_v", [False, True])
def test_device_path_on_cpu_tensors_equals_the_host_path(monkeypatch, fss_v):
    images, labels = _data(n=30, seed=2)
    taps = {"teacher": ["stage1", "stage2"], "student": ["stage2", "stage1"], "base": ["stage2"]}
    monkeypatch.setattr(metrics, "COLUMN_BLOCK", 50)  # several blocks per tap
    runs = {
        plan.name: metrics.compute_metrics(
            _models(), images, labels, taps, num_classes=3, repeats=6, batch_size=8, fss_v=fss_v, plan=plan
        )
        for plan in (DEVICE_PATH, PARKED, HOST_PATH)
    }
    host = runs[PLANS[2]]
    assert (
        any(r.metric == "RS(S|B)" for r in host) and any(r.metric.startswith("FSSv") for r in host) == fss_v
    )
    default = metrics.compute_metrics(
        _models(), images, labels, taps, num_classes=3, repeats=6, batch_size=8, fss_v=fss_v
    )
    for rows in (runs[PLANS[0]], runs[PLANS[1]], default):
        for a, b in zip(rows, host, strict=True):
            assert (a.layer, a.metric, a.samples) == (b.layer, b.metric, b.samples)
            for x, y in ((a.mean, b.mean), (a.low, b.low), (a.high, b.high)):
                assert _same(x, y), (a, b)  # bit for bit on the CPU (the GPU's bound: 1e-8)


def _u(matrix: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
    return stats.u_centered(matrix[ix][:, ix])


def _public_rows(distances, label_distances, draws, taps, roles):
    """Today's statistics through the public, checked functions, one value at a time."""
    values: dict[tuple[str, str], list[float]] = {}
    last = {r: taps[r][-1] for r in roles}
    for row in align_taps(taps, roles):
        for ix in draws:
            us = {r: _u(distances[r][row[r]].values, ix) for r in roles}
            label = _u(label_distances, ix)
            found = {"FSS(S,T)": stats.u_correlation(us["student"], us["teacher"])}
            found["FSS(S,B)"] = stats.u_correlation(us["student"], us["base"])
            found["RS(B)"] = stats.u_correlation(us["base"], label)
            found["LP(T)"] = stats.u_correlation(
                us["teacher"], _u(distances["teacher"][last["teacher"]].values, ix)
            )
            projected = stats.complementary_projection(us["student"], us["base"])
            found["RS(S|B)"] = stats.u_correlation(projected, label)
            for name, value in found.items():
                values.setdefault((row["student"], name), []).append(float(value))
    return values


def test_statistics_equal_the_public_functions_bit_for_bit():
    """The shared sums of a subsample change no bit of any value: the figures stay today's."""
    images, labels = _data(n=26, seed=5)
    models = _models()
    taps = {role: ["stage1", "stage2"] for role in models}
    roles = ["teacher", "student", "base"]
    distances = {r: metrics.tap_distances(models[r], images, taps[r]) for r in roles}
    label_distances = stats.pairwise_distances(np.eye(3)[labels])
    draws = [torch.as_tensor(ix) for ix in balanced_subsamples(labels, 19, 4, 7)]
    rows = metric_rows(distances, label_distances, draws, taps, roles, fss_v=False, epoch=0, size=19)
    expected = _public_rows(distances, label_distances, draws, taps, roles)
    by_key = {(r.layer, r.metric): r for r in rows}
    for key, samples in expected.items():
        mean, low, high = metrics.summarize(samples)
        row = by_key[key]
        assert (row.mean, row.low, row.high) == (mean, low, high), key


def test_distances_from_row_batches_equal_one_tensor_bit_for_bit():
    features = torch.randn(21, 40, generator=torch.Generator().manual_seed(3))
    whole = gathered_distances(features, [21], LocalGroup(), block=9, name="x")
    batches = gathered_distances(list(torch.split(features, 8)), [21], LocalGroup(), block=9, name="x")
    assert torch.equal(whole.values, batches.values)
    assert whole.values.device == CPU and whole.values.dtype == torch.float64


def test_tap_widths_and_what_the_device_needs():
    model = Tiny(4, 1)
    assert tap_widths(model, torch.zeros(5, 3, 8, 8), ["stage1", "stage2", "nowhere"]) == {
        "stage1": 4 * 8 * 8,
        "stage2": 4 * 4 * 4,
    }
    widths = {"teacher": {"a": 1000, "b": 300}, "student": {"a": 500}}
    needs = device_needs(widths, n=100, rows=50, subsample=75, fss_v=False, block=256)
    assert needs.features == 4 * 50 * 1300 + 24 * 100 * 256  # the widest model's rows, one block's copies
    assert needs.tap == 7 * 8 * 100 * 100
    assert needs.matrices == 3 * 8 * 100 * 100  # every tap's N x N float64
    assert needs.statistics == 8 * 100 * 100 + (2 * 2 + 1 + 4) * 8 * 75 * 75  # labels, a subsample
    assert needs.peak(keep=False) == needs.features + needs.tap
    with_v = device_needs(widths, n=100, rows=50, subsample=75, fss_v=True, block=256)
    assert with_v.matrices == 2 * needs.matrices and with_v.features > needs.features


class _Cautious(LocalGroup):
    """A group in which another rank could only use the host."""

    def maximum(self, value: int) -> int:
        return max(value, 2)


def test_the_plan_is_the_first_that_fits_and_says_why_it_left_the_device():
    gpu = torch.device("cuda", 0)
    needs = DeviceNeeds(features=3 << 30, tap=1 << 30, matrices=8 << 30, statistics=2 << 30)
    plenty = choose(gpu, needs, 100 << 30, 10_000)
    assert (plenty.sweep, plenty.statistics, plenty.name, plenty.note()) == (gpu, gpu, PLANS[0], None)
    parked = choose(gpu, needs, 8 << 30, 10_000)
    assert (parked.sweep, parked.statistics, parked.level) == (gpu, HOST, 1)
    assert "statistics run on the host" in parked.note() and "8.0 GiB is free" in parked.note()
    host = choose(gpu, needs, 2 << 30, 10_000)
    assert (host.sweep, host.statistics, host.level) == (HOST, HOST, 2)
    note = host.note()
    assert note.startswith("FSS/RS on the host") and "10000 x 10000 float64" in note
    assert "3.0 GiB of tap features" in note and "--metrics-n" in note
    assert choose(gpu, needs, 100 << 30, 10_000, _Cautious()).level == 2  # ranks agree on the host


def test_the_cpu_plan_checks_nothing():
    images, _ = _data()
    plan = metrics_plan(_models(), images, {r: ["stage1"] for r in _models()})
    assert (plan.sweep, plan.statistics, plan.level, plan.note()) == (CPU, CPU, 0, None)


def test_kept_features_are_copies_that_a_later_in_place_module_cannot_change():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(inplace=True)).eval()
    images = torch.randn(10, 3, 6, 6)
    kept = metrics.tap_features(model, images, ["0"], batch_size=4)["0"]
    with torch.no_grad():
        expected = model[0](images).reshape(10, -1)
    assert bool((expected < 0).any())  # the ReLU after the tap would have zeroed these in a view
    assert torch.equal(torch.cat(kept), expected) and kept[0].dtype == torch.float32


def test_analyze_says_when_fss_rs_leaves_the_device(tmp_path, monkeypatch, capsys):
    """The plan is made before the work and its note reaches the user as one log line (here a
    plan that pretends the GPU was too small: the host path, on the same figures)."""
    from report_fixtures import analyze_args, card_checkpoints

    from engine import cli
    from engine.jobs import analyze

    needs = DeviceNeeds(features=3 << 30, tap=1 << 30, matrices=8 << 30, statistics=2 << 30)
    seen = []

    def small_gpu(models, images, taps, **kwargs):
        seen.append((len(images), sorted(models)))
        return MetricsPlan(HOST, HOST, 2, needs, 2 << 30, len(images))

    monkeypatch.setattr(analyze, "metrics_plan", small_gpu)
    out = tmp_path / "report"
    assert cli.main(analyze_args(card_checkpoints(tmp_path / "models"), out, "--no-evidence")) == 0
    assert seen == [(16, ["base", "student", "teacher"])]
    printed = capsys.readouterr()
    assert (printed.out + printed.err).count("FSS/RS on the host, not the GPU") == 1
