"""Distributed FSS/RS and training on 2 CPU processes with Gloo (torchrun's agent), against one process.

Each test starts real ranks (``torch.distributed.run`` or ``kdlens-cli ... --nproc 2``) in a
subprocess; most of their time is the ranks importing torch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import distributed_worker as worker
import numpy as np
import pytest
import torch

from engine import metrics as fss
from engine import stats
from engine.cli import main as cli_main
from engine.distributed import DistributedError, LocalGroup, Ranks, joined, per_rank_batch
from engine.distributed.distances import gathered_distances
from engine.events import JobStopped, StopToken
from engine.jobs.demo import demo_config
from engine.jobs.train import train_job
from engine.runs import RunDir
from engine.training.config import OptimizerConfig, RoleConfig

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(worker.__file__)
TIMEOUT = 240


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)


def _cli(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "engine.cli", *args]
    return subprocess.Popen(
        command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_shares_and_batch_split_are_exact():
    ranks = [Ranks(r, 3, r) for r in range(3)]
    shares = [r.share(45, 16) for r in ranks]  # 3 batches of 16, 16, 13: one each
    assert [(s.start, s.stop) for s in shares] == [(0, 16), (16, 32), (32, 45)]
    assert ranks[0].counts(45, 16) == [16, 16, 13]
    assert Ranks(0, 4, 0).share(20, 16) == range(0, 0)  # more ranks than batches: some get none
    assert sum(Ranks(0, 4, 0).counts(20, 16)) == 20
    assert per_rank_batch(32, 2) == 16
    with pytest.raises(DistributedError, match="cannot be split evenly over 3 processes"):
        per_rank_batch(32, 3)
    assert Ranks(1, 2, 1).device("cuda") == "cuda:1" and Ranks(1, 2, 1).device("cpu") == "cpu"


def test_one_process_is_a_group_of_one():
    """LocalGroup has the faces of Ranks, and one process's distances are the plain column-block
    accumulation bit for bit, so metrics and training take one path with one process or many."""
    group = LocalGroup()
    assert (group.rank, group.world, group.leader) == (0, 1, True)
    assert group.share(45, 16) == range(45) and group.counts(45, 16) == [45]
    assert group.broadcast_object({"a": 1}) == {"a": 1} and group.gather_objects(3) == [3]
    batch, model = torch.arange(6), torch.nn.Linear(2, 2)
    assert group.batch_slice(batch) is batch and group.parallel(model, torch.device("cpu")) == (model, model)
    counts = {"student": (1.5, 3, 4)}
    assert group.step_counts(counts, StopToken()) is counts
    stop = StopToken()
    stop.stop()
    with pytest.raises(JobStopped):
        group.check_stop(stop)  # one process stops before a step
    assert Ranks(0, 2, 0).check_stop(stop) is None  # ranks agree on a stop after the step
    with joined() as joined_group:  # no torchrun environment: one process
        assert joined_group == LocalGroup()

    features = torch.randn(20, 50, generator=torch.Generator().manual_seed(0))
    plain = stats.SquaredDistanceAccumulator(20, name="x")
    for block in torch.split(features, 7, dim=1):
        plain.add(block)
    local = gathered_distances(features, [20], group, block=7, name="x")
    assert torch.equal(local.values, plain.distances().values)


def test_fss_rs_and_context_maps_of_two_ranks_equal_one_process(tmp_path, monkeypatch):
    out = tmp_path / "two.pt"
    done = _torchrun(str(WORKER), "metrics", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    two = torch.load(out, weights_only=False)

    monkeypatch.setattr(fss, "COLUMN_BLOCK", worker.COLUMN_BLOCK)
    models, images, labels = worker.metrics_inputs()
    one = fss.tap_distances(
        models["student"], images, worker.TAPS, batch_size=worker.METRICS_BATCH, row_normalized=True
    )
    assert set(one) == set(two["distances"])
    for name, matrix in one.items():
        assert torch.allclose(matrix.values, two["distances"][name], rtol=0, atol=1e-10), name
    rows = fss.compute_metrics(
        models, images, labels, {role: worker.TAPS for role in models}, num_classes=3, repeats=3,
        batch_size=worker.METRICS_BATCH, fss_v=True,
    )  # fmt: skip
    assert [(r.layer, r.metric) for r in rows] == [(r.layer, r.metric) for r in two["rows"]]
    assert any(r.metric.startswith("FSSv") for r in rows) and any(r.metric == "RS(S|B)" for r in rows)
    for a, b in zip(rows, two["rows"], strict=True):
        for x, y in ((a.mean, b.mean), (a.low, b.low), (a.high, b.high)):
            assert (np.isnan(x) and np.isnan(y)) or abs(x - y) <= 1e-10, (a, b)
    # UniCAM context batches dealt out over the ranks: each batch is explained as in one process
    maps = worker.context_maps()
    assert set(maps) == set(two["maps"]) and "distilled" in maps
    for key, value in maps.items():
        assert np.array_equal(value, two["maps"][key]), key


def _plain_config():
    config = demo_config("cue-failure", quick=True)
    plain = RoleConfig("plain_cnn", epochs=1, max_steps=3)
    return replace(
        config, teacher=plain, base=plain, student=plain, batch_size=16, threads=1, probe=False,
        evidence=False, metrics=True, metrics_every=1,
        optimizer=OptimizerConfig(name="sgd", lr=0.05, momentum=0.9, weight_decay=0.0, schedule="cosine"),
    )  # fmt: skip


def test_two_rank_training_gives_the_one_process_first_epoch_loss(tmp_path, monkeypatch):
    config = _plain_config()
    path = tmp_path / "plain.json"
    path.write_text(config.to_json())
    done = _torchrun(str(WORKER), "train", str(path), str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]

    monkeypatch.setitem(worker.ARCHITECTURES, "plain_cnn", worker.ARCHITECTURES.get("plain_cnn"))
    worker.register_plain_cnn()
    torch.set_num_threads(1)
    for _ in train_job(config, tmp_path / "one"):
        pass
    one, two = RunDir(tmp_path / "one"), RunDir(tmp_path / "two")
    loss = {(e.role, e.epoch): e.train_loss for e in one.read_history()}
    loss_two = {(e.role, e.epoch): e.train_loss for e in two.read_history()}
    assert set(loss) == set(loss_two) == {("teacher", 1), ("base", 1), ("student", 1)}
    # Same global batches, same augmentation, same initial weights; no batch norm (on CPUs each
    # rank's batch norm sees only its slice). What differs is float32 rounding: the gradient is the
    # mean of two half-batch means (all-reduced) instead of one mean, the loss a sum of two partial
    # sums. Each is ~1e-7 relative (measured: 0 for the teacher, 4e-8 for base and student, whose
    # first step follows the teacher's three), and three SGD steps carry it on without amplifying
    # it much, so 1e-5 relative is ~250x the rounding yet far below any real difference (a wrong
    # order, augmentation or gradient averaging changes the loss in the 2nd-3rd digit).
    for key, value in loss.items():
        assert loss_two[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert [(r.layer, r.metric) for r in two.read_metrics()] == [
        (r.layer, r.metric) for r in one.read_metrics()
    ]
    assert RunDir(tmp_path / "two").read_state()["finished"]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks through /proc")
def test_a_killed_rank_ends_the_run_with_a_clear_message_and_a_resumable_folder(tmp_path):
    quick = demo_config("kd-gain", quick=True)
    config = replace(
        quick, threads=1, probe=False, evidence=False, metrics=False,
        base=RoleConfig("small_cnn", epochs=12, max_steps=2),
        student=RoleConfig("small_cnn", epochs=12, max_steps=2),
    )  # fmt: skip
    path = tmp_path / "run.json"
    path.write_text(config.to_json())
    run = tmp_path / "run"
    marker = str(time.time_ns())
    command = [
        sys.executable,
        "-m",
        "engine.cli",
        "train",
        "--config",
        str(path),
        "--out",
        str(run),
        "--nproc",
        "2",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**_env(), "KDLENS_TEST_PARENT": marker},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while _committed(run, "student") < 1:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-3000:]
            time.sleep(0.05)
        pids = _rank_pids_by_marker(marker)
        assert set(pids) == {0, 1}
        os.kill(pids[1], signal.SIGKILL)
        _, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 2, err[-3000:]
    message = err.strip().splitlines()[-1]
    assert message.startswith("kdlens-cli train: error: rank 1 of 2 was killed by signal SIGKILL")
    assert f"resume with: kdlens-cli train --resume {run} --nproc 2" in message
    done = RunDir(run).completed_epochs()["student"]
    assert 1 <= done < 12 and not RunDir(run).read_state().get("finished")
    assert not _rank_pids_by_marker(marker)  # rank 0 was stopped too

    resumed = subprocess.run(
        [sys.executable, "-m", "engine.cli", "train", "--resume", str(run), "--nproc", "2"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming base, student after epoch {done}" in resumed.stderr
    assert RunDir(run).read_state()["finished"]
    assert RunDir(run).completed_epochs() == {"teacher": 1, "base": 12, "student": 12}
    epochs = [(e.role, e.epoch) for e in RunDir(run).read_history()]
    assert len(epochs) == len(set(epochs)) == 25  # every epoch once: none lost, none repeated


def _committed(run: Path, role: str) -> int:
    state = run / "state.json"
    try:
        return int(json.loads(state.read_text()).get("completed", {}).get(role, 0))
    except (OSError, ValueError):  # not written yet (or being replaced)
        return 0


def _rank_pids_by_marker(marker: str) -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        values = dict(item.split(b"=", 1) for item in environ if b"=" in item)
        if b"engine.distributed.rank" in command and values.get(b"KDLENS_TEST_PARENT") == marker.encode():
            found[int(values[b"RANK"])] = int(entry.name)
    return found


def test_a_rank_that_fails_on_input_stops_every_rank_with_its_message(tmp_path):
    (tmp_path / "empty").mkdir()
    process = _cli("train", "--resume", str(tmp_path / "empty"), "--nproc", "2")
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 2, err[-3000:]
    lines = err.strip().splitlines()
    assert lines[-1].startswith("kdlens-cli train: error: rank 0 of 2 failed and every rank was stopped:")
    assert "not a KD Lens run folder" in lines[-1]
    assert "Traceback" not in err


def test_nproc_refuses_a_batch_that_does_not_split(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(replace(demo_config("kd-gain", quick=True), batch_size=30).to_json())
    assert cli_main(["train", "--config", str(path), "--out", str(tmp_path / "run"), "--nproc", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch size 30 cannot be split evenly over 4 processes" in err[0]
    assert not (tmp_path / "run").exists()


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path) as handle:
        return list(csv.DictReader(handle))


def _numbers_close(one: list[dict[str, str]], two: list[dict[str, str]], tolerance: float) -> None:
    assert len(one) == len(two)
    for a, b in zip(one, two, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            try:
                x, y = float(a[key]), float(b[key])
            except ValueError:
                assert a[key] == b[key], key
                continue
            assert (np.isnan(x) and np.isnan(y)) or abs(x - y) <= tolerance, (key, a, b)


def test_analyze_with_two_processes_writes_the_one_process_report(tmp_path):
    from engine.checkpoints import ModelCard, save_checkpoint
    from engine.models import build_model

    shapes = ("circle", "square", "triangle", "cross")
    paths = {}
    for seed, role in enumerate(("teacher", "student", "base"), start=1):
        torch.manual_seed(seed)
        card = ModelCard(arch="small_cnn", num_classes=4, class_names=shapes, input_size=32,
                         mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))  # fmt: skip
        paths[role] = save_checkpoint(build_model("small_cnn", 4), tmp_path / f"{role}.safetensors", card)
    args = [*(f"--{role}={path}" for role, path in paths.items()), "--data", "shapes", "--probe", "8",
            "--metrics-n", "40", "--repeats", "3", "--device", "cpu", "--localisation-n", "24",
            "--faithfulness-n", "0"]  # fmt: skip
    process = _cli("analyze", *args, "--out", str(tmp_path / "two"), "--nproc", "2")
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err[-3000:]
    torch.set_num_threads(1)
    assert cli_main(["analyze", *args, "--out", str(tmp_path / "one")]) == 0
    one, two = tmp_path / "one", tmp_path / "two"
    # FSS/RS from distances summed over ranks: equal to 1e-10; the localisation from context
    # batches explained on two ranks: the same maps, so the same table
    _numbers_close(_csv_rows(one / "metrics.csv"), _csv_rows(two / "metrics.csv"), 1e-10)
    _numbers_close(_csv_rows(one / "localisation.csv"), _csv_rows(two / "localisation.csv"), 0.0)


def test_the_windows_training_path_checks_the_split_before_starting_ranks(tmp_path):
    from engine.events import StopToken
    from gui.jobs.child import train_from_dict

    config = json.loads(replace(demo_config("kd-gain", quick=True), batch_size=30).to_json())
    with pytest.raises(DistributedError, match="cannot be split evenly over 4 processes"):
        next(train_from_dict(config, tmp_path / "run", StopToken(), processes=4))
    assert not (tmp_path / "run").exists()
