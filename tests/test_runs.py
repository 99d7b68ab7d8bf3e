"""The run directory: probe-frame files, replay of a run, truncation on resume, explaining an image."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from engine.errors import KDLensError
from engine.events import EpochSummary, Evidence, JobFinished, LogLine, MetricsRow, ProbeFrame, Progress
from engine.frames import decode_probe_frame, encode_probe_frame
from engine.jobs.demo import demo_config, demo_job
from engine.jobs.explain import explain_image_job
from engine.jobs.train import train_job
from engine.runs import NotARunError, RunDir, replay
from engine.runs.writer import RunWriter
from engine.training.config import TrainConfig
from engine.vocab import DEMO_PRESETS

STORED = (EpochSummary, ProbeFrame, MetricsRow, Evidence)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """A quick demo run that also emits a probe frame every step (mid-epoch frames)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    config = replace(demo_config("kd-gain", quick=True), threads=1, probe_every_steps=1)
    return RunDir(out), list(train_job(config, out))


def _assert_same_event(a, b):
    assert type(a) is type(b)
    if isinstance(a, ProbeFrame):
        assert (a.epoch, a.class_names, a.flags) == (b.epoch, b.class_names, b.flags)
        for name in ("images", "labels", "masks", "indices"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        for group in ("maps", "signed", "raw", "predictions"):
            assert getattr(a, group).keys() == getattr(b, group).keys()
            for key, value in getattr(a, group).items():
                np.testing.assert_array_equal(value, getattr(b, group)[key])
    elif isinstance(a, MetricsRow):
        np.testing.assert_equal(
            (a.epoch, a.layer, a.metric, a.mean, a.low, a.high),
            (b.epoch, b.layer, b.metric, b.mean, b.low, b.high),
        )
    else:
        assert a == b


def test_replay_reproduces_what_was_streamed(streamed):
    run, events = streamed
    live = [e for e in events if isinstance(e, STORED)]
    frames = [e for e in live if isinstance(e, ProbeFrame)]
    assert [(f.epoch, f.flags.get("step")) for f in frames] == [
        (0, None),
        (1, 1),
        (1, None),
        (2, 1),
        (2, None),
    ]
    assert [e.kind for e in live if isinstance(e, Evidence)] == [
        "localisation", "faithfulness", "sanity", "agreement", "calibration", "layers", "classes"
    ]  # fmt: skip
    again = list(replay(run.path))
    assert isinstance(again[-1], JobFinished) and not again[-1].stopped
    assert again[-1].summary == events[-1].summary
    assert len(again) - 1 == len(live)
    for a, b in zip(live, again[:-1], strict=True):
        _assert_same_event(a, b)


def test_probe_frame_file_round_trip():
    rng = np.random.default_rng(0)
    frame = ProbeFrame(
        epoch=3,
        images=rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8),
        labels=np.array([0, 1, 2, 1]),
        class_names=("a", "b", "c"),
        maps={"distilled": rng.random((4, 8, 8), dtype=np.float32)},
        signed={"distilled": rng.standard_normal((4, 2, 2)).astype(np.float32)},
        raw={"distilled": rng.random((4, 8, 8), dtype=np.float32)},
        predictions={"student": rng.random((4, 3), dtype=np.float32)},
        masks=rng.random((4, 8, 8)) > 0.5,
        indices=np.array([5, 6, 7, 8]),
        flags={"no_unique_features": np.bool_(False), "step": None, "n": np.int64(4)},
    )
    back = decode_probe_frame(encode_probe_frame(frame))
    _assert_same_event(replace(frame, flags={"no_unique_features": False, "step": None, "n": 4}), back)
    assert back.maps["distilled"].dtype == np.float32 and back.masks.dtype == bool


def test_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(NotARunError, match="not a KD Lens run folder"):
        list(replay(tmp_path))
    with pytest.raises(NotARunError, match="does not exist"):
        list(replay(tmp_path / "missing"))
    with pytest.raises(KDLensError):
        explain_image_job(tmp_path, tmp_path / "x.png").__next__()


def test_reopen_drops_everything_past_the_committed_epoch(streamed, tmp_path):
    source, _ = streamed
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(source.path, copy)
    state = json.loads((copy / "state.json").read_text())
    state["completed"] = {"teacher": 1, "base": 1, "student": 1}
    state["finished"] = False
    (copy / "state.json").write_text(json.dumps(state))
    (copy / "probe" / ".epoch_0002.npz.0123456789ab.tmp").write_bytes(b"half")
    writer = RunWriter(copy)
    writer.reopen()
    run = RunDir(copy)
    assert {(s.role, s.epoch) for s in run.read_history()} == {("teacher", 1), ("base", 1), ("student", 1)}
    assert {r.epoch for r in run.read_metrics()} == {1}
    # the teacher frame stays
    assert [(e, s) for e, s, _ in run.probe_files()] == [(0, None), (1, 1), (1, None)]
    assert not list(copy.rglob("*.tmp"))
    replayed = list(replay(copy))
    assert replayed[-1].stopped
    assert max(e.epoch for e in replayed if isinstance(e, EpochSummary)) == 1


def test_explain_an_opened_image_inside_the_recorded_context_batch(streamed, tmp_path):
    run, events = streamed
    frame0 = next(e for e in events if isinstance(e, ProbeFrame))
    path = tmp_path / "opened.png"
    Image.fromarray(frame0.images[0]).save(path)
    out = list(explain_image_job(run.path, path))
    assert isinstance(out[0], Progress) and any(isinstance(e, LogLine) for e in out)
    frames = [e for e in out if isinstance(e, ProbeFrame)]
    assert len(frames) == 1 and frames[0] is out[-1]
    frame = frames[0]
    assert frame.epoch == 2 and frame.images.shape == (1, 32, 32, 3)
    assert {"gradcam_teacher", "gradcam_base", "gradcam_student", "distilled", "residual"} <= set(frame.maps)
    assert all(v.shape == (1, 32, 32) for v in frame.maps.values())
    assert frame.flags["context_indices"] == run.read_sets()["context"]
    assert frame.flags["label_source"] == "teacher prediction"
    np.testing.assert_array_equal(frame.images[0], frame0.images[0])
    # the same image (saved as 8-bit PNG) through the latest student: the final probe frame's view
    last = [e for e in events if isinstance(e, ProbeFrame)][-1]
    np.testing.assert_allclose(frame.predictions["student"][0], last.predictions["student"][0], atol=2e-3)
    corr = np.corrcoef(frame.maps["gradcam_student"][0].ravel(), last.maps["gradcam_student"][0].ravel())[
        0, 1
    ]
    assert corr > 0.98
    early = [e for e in explain_image_job(run.path, path, epoch=1) if isinstance(e, ProbeFrame)][0]
    assert early.epoch == 1
    assert not np.allclose(early.predictions["student"], frame.predictions["student"])
    with pytest.raises(KDLensError, match="epochs 1..2"):
        list(explain_image_job(run.path, path, epoch=7))


def test_demo_presets_differ_only_by_the_cue():
    gain, cue = demo_config("kd-gain"), demo_config("cue-failure")
    assert set(DEMO_PRESETS) == {"kd-gain", "cue-failure"}
    assert gain.dataset.shapes["label_noise"] == cue.dataset.shapes["label_noise"] == 0.2
    assert gain.dataset.shapes["student_size"] == 2000 and gain.dataset.shapes.get("cue_fraction", 0) == 0
    assert cue.dataset.shapes["cue_fraction"] == 1.0
    assert replace(cue, dataset=gain.dataset) == gain
    assert TrainConfig.from_json(gain.to_json()) == gain
    with pytest.raises(KDLensError, match="kd-gain"):
        demo_config("nope")
    with pytest.raises(KDLensError, match="not empty"):
        list(demo_job(__import__("pathlib").Path(__file__).parent, quick=True))
