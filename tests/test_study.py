"""`kdlens-cli study`: seeds as run folders, t-intervals over seeds, continuing, bad input."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from engine import cli
from engine.evidence.intervals import t_interval
from engine.jobs.demo import demo_config
from engine.jobs.study import study_job
from engine.runs.folder import RunDir
from engine.runs.study_folder import read_study
from engine.training.config import RoleConfig


def _tiny(**changes):
    config = replace(
        demo_config("cue-failure", quick=True), threads=1, evidence=False, probe=False, metrics_size=16
    )
    one = RoleConfig("small_cnn", epochs=1, max_steps=1)
    return replace(config, teacher=one, base=one, student=one, **changes)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "s"
    events = list(study_job(_tiny(), [0, 1, 2], out))
    return out, events


def test_each_seed_is_a_run_and_the_table_has_t_intervals(study):
    out, events = study
    assert events[-1].out_dir == str(out) and not events[-1].stopped
    document = read_study(out)
    assert document["seeds"] == [0, 1, 2] and document["finished"]
    for seed in (0, 1, 2):
        run = RunDir(out / f"seed_{seed}")
        assert run.read_state()["finished"] and json.loads(run.config_path.read_text())["seed"] == seed
    rows = {row["quantity"]: row for row in document["quantities"]}
    accuracy = [rows["accuracy student - base"]["seeds"][str(s)] for s in (0, 1, 2)]
    expected = t_interval(accuracy)
    assert rows["accuracy student - base"]["ci_low"] == pytest.approx(expected.low, abs=1e-6)
    assert rows["accuracy student - base"]["verdict"] in ("supported", "not supported", "inconclusive")
    assert "accuracy student (cue-flipped)" in rows  # the cue preset reports the flipped split too
    assert any(name.startswith("FSS(S,T) @ ") for name in rows)
    with open(out / "study.csv") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == [
        "quantity",
        "seed_0",
        "seed_1",
        "seed_2",
        "mean",
        "ci_low",
        "ci_high",
        "n",
        "verdict",
    ]
    assert len(table) == len(rows)


def test_a_study_continues_and_keeps_finished_seeds(study, tmp_path):
    out, _ = study
    stamp = (out / "seed_1" / "state.json").stat().st_mtime_ns
    again = list(study_job(_tiny(), [0, 1, 2], out))
    assert not again[-1].stopped and (out / "seed_1" / "state.json").stat().st_mtime_ns == stamp


def test_fewer_than_three_seeds_give_no_interval_and_bad_input_is_refused(tmp_path, capsys):
    out = tmp_path / "two"
    list(study_job(_tiny(), [3, 4], out))
    row = next(r for r in read_study(out)["quantities"] if r["quantity"] == "accuracy student - base")
    assert row["ci_low"] is None and "at least 3" in row["note"] and row["verdict"] == "inconclusive"
    with pytest.raises(Exception, match="another configuration"):
        list(study_job(_tiny(batch_size=16), [3, 4], out))
    assert cli.main(["study", "--preset", "kd-gain", "--seeds", "0,x", "--out", str(tmp_path / "b")]) == 2
    assert "whole numbers" in capsys.readouterr().err
    assert cli.main(["study", "--config", "c.json", "--quick", "--out", str(tmp_path / "c")]) == 2
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert cli.main(["study", "--preset", "kd-gain", "--quick", "--out", str(tmp_path / "taken")]) == 2
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
