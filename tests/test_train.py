"""End-to-end training runs on tiny seeded splits: events, files, resume, bad configs, NaN guard."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.checkpoints import ModelCard, load_checkpoint, save_checkpoint
from engine.errors import KDLensError
from engine.events import (
    CheckpointWritten,
    EpochSummary,
    Evidence,
    JobFinished,
    LogLine,
    MetricsRow,
    ProbeFrame,
    Progress,
    StopToken,
)
from engine.jobs.demo import demo_config
from engine.jobs.train import train_job
from engine.losses import KD_LOSSES
from engine.models import build_model
from engine.runs import RunDir
from engine.training.config import DatasetConfig, KDConfig, RoleConfig, TrainConfig
from engine.training.loop import TrainingDivergedError, evaluate_accuracy
from engine.training.setup import load_run_data

MAP_NAMES = {"gradcam_teacher", "gradcam_student", "gradcam_base", "distilled", "residual"}


def _config(**changes) -> TrainConfig:
    return replace(demo_config("kd-gain", quick=True), threads=1, **changes)


def _weights(run: RunDir, role: str) -> dict[str, torch.Tensor]:
    return load_file(str(run.checkpoint_path(role)))


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> bool:
    return a.keys() == b.keys() and all(
        torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=0) for k in a
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    events = list(train_job(_config(), out))
    return RunDir(out), events


def test_events_of_a_finished_run(finished):
    run, events = finished
    assert isinstance(events[-1], JobFinished) and not events[-1].stopped
    assert events[-1].out_dir == str(run.path)
    summaries = [(e.role, e.epoch) for e in events if isinstance(e, EpochSummary)]
    assert summaries == [("teacher", 1), ("base", 1), ("student", 1), ("base", 2), ("student", 2)]
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == 2 + 2 * 2
    assert all(e.loss is not None and np.isfinite(e.loss) for e in progress)
    assert progress[-1].eta_seconds is not None and progress[-1].eta_seconds >= 0

    teacher_frame, *frames = [e for e in events if isinstance(e, ProbeFrame)]
    # while the teacher trains, its own maps stream as epoch 0: heatmaps before any KD epoch
    assert teacher_frame.epoch == 0 and teacher_frame.flags["phase"] == "teacher"
    assert set(teacher_frame.maps) == {"gradcam_teacher"} and set(teacher_frame.predictions) == {"teacher"}
    assert events.index(teacher_frame) < next(
        i for i, e in enumerate(events) if getattr(e, "role", "") == "base"
    )
    assert [f.epoch for f in frames] == [1, 2]
    sets = run.read_sets()
    for frame in frames:
        assert frame.images.dtype == np.uint8 and frame.images.shape == (8, 32, 32, 3)
        assert set(frame.maps) >= MAP_NAMES
        for name in MAP_NAMES:
            assert frame.maps[name].shape == (8, 32, 32) and frame.maps[name].dtype == np.float32
            assert frame.maps[name].min() >= 0.0 and frame.maps[name].max() <= 1.0
        assert set(frame.predictions) == {"teacher", "base", "student"}
        np.testing.assert_allclose(frame.predictions["student"].sum(1), 1.0, atol=1e-5)
        assert frame.masks is not None and frame.masks.dtype == bool and frame.masks.any()
        assert frame.indices.tolist() == sets["probe"]
        assert isinstance(frame.flags["no_unique_features"], bool)
    # the two probe epochs show different student weights, so the student's Grad-CAM moved
    assert not np.array_equal(frames[0].maps["gradcam_student"], frames[1].maps["gradcam_student"])

    rows = [e for e in events if isinstance(e, MetricsRow)]
    assert {r.epoch for r in rows} == {1, 2}
    assert {"FSS(S,T)", "FSS(S,B)", "RS(S)", "RS(S|B)", "RS(B|S)"} <= {r.metric for r in rows}
    written = [(e.role, e.epoch) for e in events if isinstance(e, CheckpointWritten)]
    assert written == [("teacher", 1), ("base", 1), ("student", 1), ("base", 2), ("student", 2)]
    evidence = {e.kind: e for e in events if isinstance(e, Evidence)}
    assert set(evidence) == {
        "localisation",
        "faithfulness",
        "sanity",
        "agreement",
        "calibration",
        "layers",
        "classes",
    } and {e.epoch for e in evidence.values()} == {2}
    assert {r["map"] for r in evidence["localisation"].rows} >= MAP_NAMES | {"distilled - residual"}
    assert set(evidence["faithfulness"].summary["claims"]) == {"distilled", "residual"}
    assert [r["randomised"] for r in evidence["sanity"].rows if r["map"] == "distilled"][:2] == ["none", "fc"]
    agreement = evidence["agreement"].summary  # KL at the run's KD temperature (hinton, T = 4)
    assert agreement["temperature"] == 4.0 and agreement["temperature_source"] == "the run's KD loss"
    pairs = {(r["model"], r["quantity"]) for r in evidence["agreement"].rows}
    assert {("student", "kl_kd"), ("base", "top1"), ("student", "top1_teacher_wrong")} <= pairs
    assert [r["model"] for r in evidence["calibration"].rows] == ["teacher", "student", "base"]
    assert set(evidence["calibration"].summary["claims"]) == {"ECE"}
    # the layer map read off the last epoch's metrics: its aligned cells are that epoch's FSS
    fss = {r.layer: r.mean for r in rows if r.epoch == 2 and r.metric == "FSS(S,T)"}
    cells = {r["row"]: r["mean"] for r in evidence["layers"].rows
             if r["pair"] == "T x S" and r["measure"] == "R*" and r["row"] == r["column"]}  # fmt: skip
    assert cells and all(cells[tap] == pytest.approx(fss[tap], abs=1e-6) for tap in cells)
    assert [r["class"] for r in evidence["classes"].rows] and "helped" in evidence["classes"].summary


def test_run_folder_holds_what_was_streamed(finished):
    run, events = finished
    config = _config()
    assert TrainConfig.load(run.config_path) == config
    assert json.loads(run.config_path.read_text())["kd"]["loss"] == "hinton"  # human-readable JSON
    state = run.read_state()
    assert state["finished"] and state["completed"] == {"teacher": 1, "base": 2, "student": 2}
    assert len(run.read_history()) == 5
    assert sorted(p.name for p in run.probe_dir.iterdir()) == [
        "epoch_0000.npz",
        "epoch_0001.npz",
        "epoch_0002.npz",
    ]
    assert [e.kind for e in run.read_evidence()] == [
        "localisation", "faithfulness", "sanity", "agreement", "calibration", "layers", "classes"
    ]  # fmt: skip
    sets = run.read_sets()
    assert len(sets["probe"]) == 8 and len(sets["metrics"]) == 32 and len(sets["context"]) == 7
    for role in ("teacher", "base", "student"):
        assert run.checkpoint_path(role).is_file() and run.train_state_path(role).is_file()
    assert run.checkpoint_path("student", 1).is_file() and run.checkpoint_path("base", 2).is_file()
    assert not list(run.path.rglob("*.tmp"))
    # the stored student really is the one whose accuracy was reported
    data = load_run_data(config)
    student = load_checkpoint(run.checkpoint_path("student")).model
    accuracy = evaluate_accuracy(student, data.normalized(data.heldout.images), data.heldout.clean_labels)
    assert accuracy == pytest.approx(events[-1].summary["heldout_accuracy"]["student"])


def test_probe_and_metrics_do_not_disturb_training(finished, tmp_path):
    run, _ = finished
    quiet = RunDir(tmp_path / "quiet")
    events = list(train_job(_config(probe=False, metrics=False), quiet.path))
    assert not any(isinstance(e, (ProbeFrame, MetricsRow)) for e in events)
    for role in ("teacher", "base", "student"):
        assert _same_weights(_weights(run, role), _weights(quiet, role)), role


def test_kd_term_is_the_only_difference_between_base_and_student(finished, tmp_path):
    run, _ = finished
    assert not _same_weights(_weights(run, "base"), _weights(run, "student"), atol=1e-4)
    no_kd = RunDir(tmp_path / "no_kd")
    list(
        train_job(
            _config(kd=KDConfig("hinton", {"temperature": 4.0, "alpha": 0.0}), probe=False, metrics=False),
            no_kd.path,
        )
    )
    assert _same_weights(_weights(no_kd, "base"), _weights(no_kd, "student"), atol=1e-6)


def test_pause_then_stop_then_resume_gives_the_uninterrupted_result(finished, tmp_path):
    run, _ = finished
    out = tmp_path / "stopped"
    stop = StopToken()
    stop.pause()
    resumed_at: list[float] = []

    def resume_later():
        time.sleep(0.5)
        resumed_at.append(time.perf_counter())
        stop.resume()

    threading.Thread(target=resume_later, daemon=True).start()
    events = []
    for event in train_job(_config(), out, stop=stop):
        if isinstance(event, Progress) and not events_progress(events):
            assert resumed_at, "a paused job took a step"
        events.append(event)
        if isinstance(event, Progress) and (event.role, event.epoch, event.step) == ("student", 2, 1):
            stop.stop()
    assert isinstance(events[-1], JobFinished) and events[-1].stopped
    assert RunDir(out).completed_epochs() == {"teacher": 1, "base": 1, "student": 1}

    resumed = list(train_job(None, out, resume=True))
    assert isinstance(resumed[-1], JobFinished) and not resumed[-1].stopped
    assert [(e.role, e.epoch) for e in resumed if isinstance(e, EpochSummary)] == [
        ("base", 2),
        ("student", 2),
    ]
    history = [(s.role, s.epoch) for s in RunDir(out).read_history()]
    assert history == [("teacher", 1), ("base", 1), ("student", 1), ("base", 2), ("student", 2)]
    for role in ("teacher", "base", "student"):
        assert _same_weights(_weights(run, role), _weights(RunDir(out), role), atol=1e-6), role


def events_progress(events) -> bool:
    return any(isinstance(e, Progress) for e in events)


CHILD = textwrap.dedent(
    """
    import sys, time
    from dataclasses import replace
    from engine.jobs.demo import demo_config
    from engine.jobs.train import train_job
    config = replace(demo_config("kd-gain", quick=True), threads=1)
    slow = False
    for event in train_job(config, sys.argv[1]):
        name = type(event).__name__
        if name == "CheckpointWritten" and event.role == "student" and event.epoch == 1:
            print("EPOCH1", flush=True)
            slow = True
        elif slow and name == "Progress":
            time.sleep(0.5)  # stay inside epoch 2 until the parent kills us
    print("FINISHED", flush=True)
    """
)


def test_sigkill_mid_run_then_resume(finished, tmp_path):
    run, _ = finished
    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "EPOCH1"
        time.sleep(0.3)
        child.kill()  # SIGKILL: no cleanup runs in the child
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    killed = RunDir(out)
    assert killed.completed_epochs()["student"] == 1
    resumed = list(train_job(None, out, resume=True))
    assert isinstance(resumed[-1], JobFinished) and not resumed[-1].stopped
    assert not list(out.rglob("*.tmp"))
    assert [(s.role, s.epoch) for s in killed.read_history()][-2:] == [("base", 2), ("student", 2)]
    assert _same_weights(_weights(run, "student"), _weights(killed, "student"), atol=1e-6)


def _bad_teacher_checkpoint(tmp_path) -> str:
    path = tmp_path / "three_classes.safetensors"
    save_checkpoint(build_model("small_cnn", 3), path, ModelCard("small_cnn", 3, input_size=32))
    return str(path)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda tmp: {"teacher": RoleConfig("resnet9000", epochs=1)}, "unknown architecture"),
        (lambda tmp: {"dataset": DatasetConfig(source=str(tmp / "no_such_folder"))}, "does not exist"),
        (lambda tmp: {"teacher": RoleConfig("small_cnn", load=_bad_teacher_checkpoint(tmp))}, "3 classes"),
        (lambda tmp: {"base": RoleConfig("large_cnn", epochs=2, max_steps=2)}, "architecture"),
        (lambda tmp: {"kd": KDConfig("fitnets")}, "unknown KD loss"),
    ],
)
def test_bad_configuration_fails_before_training(tmp_path, change, message):
    out = tmp_path / "run"
    seen = []
    with pytest.raises(KDLensError, match=message):
        for event in train_job(_config(**change(tmp_path)), out):
            seen.append(event)
    assert not any(isinstance(e, Progress) for e in seen)
    assert not out.exists() or not any(out.rglob("*.safetensors"))


def test_new_run_refuses_a_used_folder_and_resume_refuses_a_non_run(finished, tmp_path):
    run, _ = finished
    with pytest.raises(KDLensError, match="not empty"):
        list(train_job(_config(), run.path))
    with pytest.raises(KDLensError, match="not a KD Lens run"):
        list(train_job(None, tmp_path, resume=True))


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    hinton = KD_LOSSES["hinton"]
    calls = {"n": 0}

    def poisoned(inputs, temperature, alpha):
        calls["n"] += 1
        loss = hinton.function(inputs, temperature, alpha)
        return loss * float("nan") if calls["n"] > 2 else loss  # epoch 2, step 1 of the student

    monkeypatch.setitem(KD_LOSSES, "hinton", replace(hinton, function=poisoned))
    out = tmp_path / "nan"
    events = []
    with pytest.raises(TrainingDivergedError, match="student's loss became nan at epoch 2, step 1"):
        for event in train_job(_config(probe=False, metrics=False), out):
            events.append(event)
    assert isinstance(events[-1], LogLine) and events[-1].level == "error"
    run = RunDir(out)
    assert run.completed_epochs() == {"teacher": 1, "base": 1, "student": 1}
    card = json.loads(run.checkpoint_path("student").with_suffix(".json").read_text())
    assert card["extra"]["epoch"] == 1
    weights = _weights(run, "student")
    assert all(torch.isfinite(v.float()).all() for v in weights.values())
    assert not run.checkpoint_path("student", 2).exists()


def test_loaded_teacher_assistant_chain_and_attention_transfer(finished, tmp_path):
    run, events = finished
    config = _config(
        teacher=RoleConfig("large_cnn", load=str(run.checkpoint_path("teacher"))),
        assistant=RoleConfig("small_cnn", epochs=1, max_steps=2),
        kd=KDConfig("attention"),
        metrics=False,
    )
    chain = list(train_job(config, tmp_path / "chain"))
    summaries = [(e.role, e.epoch) for e in chain if isinstance(e, EpochSummary)]
    assert summaries == [("assistant", 1), ("base", 1), ("student", 1), ("base", 2), ("student", 2)]
    finished_event = chain[-1]
    assert isinstance(finished_event, JobFinished) and not finished_event.stopped
    # the loaded teacher is used as it is: same held-out accuracy as where it was trained
    teacher_accuracy = events[-1].summary["heldout_accuracy"]["teacher"]
    assert finished_event.summary["heldout_accuracy"]["teacher"] == pytest.approx(teacher_accuracy)
    frame = [e for e in chain if isinstance(e, ProbeFrame)][-1]
    assert {"gradcam_assistant", "distilled", "residual"} <= set(frame.maps)
    weights = RunDir(tmp_path / "chain")
    assert not weights.checkpoint_path("teacher").exists()
    assert not _same_weights(_weights(weights, "base"), _weights(weights, "student"), atol=1e-4)
