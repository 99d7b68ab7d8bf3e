"""`kdlens-cli train` and `kdlens-cli demo`: exit codes, messages and the run folder they leave."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from engine.cli import main
from engine.jobs.demo import demo_config
from engine.runs import RunDir


def test_demo_quick_writes_a_finished_run_then_resume_is_a_no_op(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr()
    assert "held-out accuracy: teacher" in printed.out
    assert "student epoch   2" in printed.err  # one line per epoch and role
    run = RunDir(out)
    assert run.read_state()["finished"]
    assert len(run.read_history()) == 5 and len(run.probe_files()) == 3  # teacher phase + 2 KD epochs
    assert main(["train", "--resume", str(out)]) == 0
    assert "already finished" in capsys.readouterr().err
    assert len(run.read_history()) == 5


def test_train_from_a_config_file(tmp_path, capsys):
    config = replace(demo_config("cue-failure", quick=True), threads=1, probe=False, metrics=False)
    path = tmp_path / "run.json"
    path.write_text(config.to_json())
    out = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["dataset"]["shapes"]["cue_fraction"] == 1.0
    assert RunDir(out).completed_epochs() == {"teacher": 1, "base": 2, "student": 2}


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--config", "{missing}", "--out", "{out}"], "cannot read the training configuration"),
        (["train", "--config", "{bad}", "--out", "{out}"], "unknown field(s) epochz"),
        (["train", "--config", "{arch}", "--out", "{out}"], "unknown architecture"),
        (["train", "--config", "{bad}"], "needs --out"),
        (["train", "--resume", "{empty}"], "not a KD Lens run folder"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"teacher": {"arch": "large_cnn", "epochz": 3}}))
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"teacher": {"arch": "resnet9000", "epochs": 1}}))
    (tmp_path / "empty").mkdir()
    names = {
        "missing": tmp_path / "nope.json",
        "bad": bad,
        "arch": arch,
        "out": tmp_path / "o",
        "empty": tmp_path / "empty",
    }
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kdlens-cli train: error:")
    assert message in err[0]
    assert not (tmp_path / "o").exists()


def test_argparse_rules(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--config", "a.json", "--resume", "b"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", "x", "--preset", "nope"])
    assert exc.value.code == 2
