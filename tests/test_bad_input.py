"""Issue 11, the command line given bad input: every case exits 2 with one line naming the field,
flag or file, before any work, and leaves what the user had as it was (items 4, 5, 7, 8).

The engine-API side (items 6, 9, 10) is in test_bad_input_api.py; the kill-at-every-file-operation
test of item 1 in test_resume_faults.py.
"""

from __future__ import annotations

import copy
import json
import math
import shutil

import pytest
from bad_input_fixtures import (
    bare_checkpoint,
    checkpoint,
    fingerprint,
    image_folder,
    read_only_place,
    run_cli,
    tiny_train_config,
)

from engine.events import EpochSummary, StopToken
from engine.jobs.train import train_job
from engine.runs import RunDir


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    return {
        "root": root,
        "data": image_folder(root / "fruit"),
        "teacher": checkpoint(root / "teacher.safetensors", "large_cnn", 1),
        "student": checkpoint(root / "student.safetensors", "small_cnn", 2),
        "base": checkpoint(root / "base.safetensors", "small_cnn", 3),
    }


def analyze_args(world, out, *extra, roles=None):
    roles = roles or {role: world[role] for role in ("teacher", "student", "base")}
    return ["analyze", *(f"--{role}={path}" for role, path in roles.items()), "--data", world["data"],
            "--out", out, "--probe", "6", "--metrics-n", "12", "--repeats", "2", "--device", "cpu",
            "--no-evidence", *extra]  # fmt: skip


def refused(code: int, err: str, *words: str) -> str:
    """The one stderr line of a refusal; asserts exit 2, no traceback, and that it names ``words``."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert any(all(w in line for w in words) for line in lines), (words, err)
    return lines[-1]


# --- item 5: every field of a training configuration, before any work --------------------------

NAN = float("nan")
CONFIG_CASES = [
    ("kd.params.temperature", 0, "temperature"),
    ("kd.params.temperature", -1.5, "temperature"),
    ("kd.params.alpha", -0.1, "alpha"),
    ("kd.params.alpha", 1.5, "alpha"),
    ("optimizer.lr", NAN, "optimizer.lr"),
    ("optimizer.lr", 0, "optimizer.lr"),
    ("optimizer.lr", -1, "optimizer.lr"),
    ("optimizer.lr", "0.1", "optimizer.lr"),
    ("student.lr", -0.1, "student.lr"),
    ("teacher.lr", 0, "teacher.lr"),
    ("optimizer.momentum", -0.5, "optimizer.momentum"),
    ("optimizer.weight_decay", -1e-4, "optimizer.weight_decay"),
    ("metrics_repeats", 0, "metrics_repeats"),
    ("dataset.image_size", 4, "dataset.image_size"),
    ("dataset.image_size", 5000, "dataset.image_size"),
    ("dataset.image_size", "32", "dataset.image_size"),
    ("seed", -1, "seed"),
    ("seed", 1.5, "seed"),
    ("device", "tpu", "device"),
    ("device", "cuda:7", "device"),
    ("device", 3, "device"),
    ("batch_size", "16", "batch_size"),
    ("teacher.epochs", "3", "teacher.epochs"),
    ("teacher.arch", None, "arch"),  # None: the field is left out
    ("threads", "2", "threads"),
    ("augment", "yes", "augment"),
    ("teacher.max_steps", "1", "teacher.max_steps"),
    ("teacher.load", 5, "teacher.load"),
    ("dataset.shapes.num_classes", "4", "dataset.shapes.num_classes"),
]


@pytest.mark.parametrize("field,value,named", CONFIG_CASES, ids=[f"{f}={v!r}" for f, v, _ in CONFIG_CASES])
def test_a_bad_training_field_is_named_before_any_work(tmp_path, capsys, field, value, named):
    data = tiny_train_config().to_dict()
    part, *path = field.split(".")
    target = data
    for key in [part, *path][:-1]:
        target = target[key]
    if value is None:
        del target[[part, *path][-1]]
    else:
        target[[part, *path][-1]] = value
    config = tmp_path / "run.json"
    config.write_text(json.dumps(data))
    out = tmp_path / "run"
    line = refused(*run_cli(["train", "--config", config, "--out", out], capsys), named)
    if value is not None and not (isinstance(value, float) and math.isnan(value)):
        assert repr(value) in line or str(value) in line  # the value it got
    assert not out.exists()  # refused before the run folder was made, let alone a teacher trained


# --- item 5: analyze's flags ---------------------------------------------------------------------

FLAG_CASES = [
    (("--probe", "2"), "--probe"),
    (("--metrics-n", "0"), "--metrics-n"),
    (("--repeats", "0"), "--repeats"),
    (("--seed", "-1"), "--seed"),
    (("--image-size", "4"), "--image-size"),
    (("--image-size", "5000"), "--image-size"),
    (("--localisation-n", "-1"), "--localisation-n"),
    (("--faithfulness-n", "-5"), "--faithfulness-n"),
    (("--probe", "abc"), "--probe"),
    (("--device", "tpu"), "--device"),
    (("--mean", "0.5,0.5", "--std", "0.2"), "--mean"),
    (("--mean", "a,b,c", "--std", "0.2"), "--mean"),
    (("--mean", "nan,0.5,0.5", "--std", "0.2"), "--mean"),
    (("--std", "0.2,0.2,0.2"), "--std"),
    (("--mean", "0.5", "--std", "0,0.2,0.2"), "--std"),
    (("--probe", "3"), "--probe"),
]


@pytest.mark.parametrize("extra,named", FLAG_CASES, ids=[" ".join(e) for e, _ in FLAG_CASES])
def test_a_bad_analyze_flag_is_named_before_any_work(world, tmp_path, capsys, extra, named):
    out = tmp_path / "report"
    refused(*run_cli(analyze_args(world, out, *extra), capsys), named)
    assert not out.exists()


def test_a_probe_set_smaller_than_the_classes_takes_pairs_of_a_subset_of_them(tmp_path, capsys):
    """5 classes, --probe 5: a seeded subset of the classes with two images each (one image of
    every class would make the one-hot objective undefined); said in the log and the manifest."""
    classes = tuple("abcde")
    world = {"data": image_folder(tmp_path / "data", classes=classes)}
    for seed, (role, arch) in enumerate(
        (("teacher", "large_cnn"), ("student", "small_cnn"), ("base", "small_cnn"))
    ):
        world[role] = checkpoint(tmp_path / f"{role}.safetensors", arch, seed, classes=classes)
    out = tmp_path / "report"
    code, err = run_cli([*analyze_args(world, out), "--probe", "5"], capsys)
    assert code == 0, err
    assert "probe set: 5 images of 2 of the 5 classes" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sets"]["probe set"].startswith("5 images of 2 of the 5 classes")
    assert len(list((out / "maps").glob("probe_*.npz"))) == 5  # the report holds the probe maps
    line = refused(*run_cli([*analyze_args(world, tmp_path / "r2"), "--probe", "3"], capsys), "--probe")
    assert "at least 4" in line


@pytest.mark.parametrize("data", ["folder", "shapes"])
def test_a_cards_impossible_input_size_is_refused_naming_the_card(world, tmp_path, capsys, data):
    """A sidecar saying input_size 100000 is refused as --image-size 100000 is, naming the card, on
    an image folder (no allocation of terabytes) and on the shapes (no 'shapes configuration')."""
    student = tmp_path / "student.safetensors"
    shutil.copy(world["student"], student)
    card = json.loads(world["student"].with_suffix(".json").read_text())
    student.with_suffix(".json").write_text(json.dumps({**card, "input_size": 100000}))
    roles = {"teacher": world["teacher"], "student": student, "base": world["base"]}
    args = analyze_args(world, tmp_path / "out", roles=roles)
    if data == "shapes":
        args[args.index("--data") + 1] = "shapes"
    line = refused(*run_cli(args, capsys), "input_size", "100000", str(student.with_suffix(".json")))
    assert "8 to 1024" in line and "shapes configuration" not in line


# --- item 4: reports never mix -------------------------------------------------------------------


def test_analyze_refuses_a_folder_that_is_not_a_report_and_changes_nothing(world, tmp_path, capsys):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "metrics.csv").write_text("my own numbers\n")
    (user / "maps").mkdir()
    (user / "maps" / "probe_000.npz").write_bytes(b"mine too")
    before = fingerprint(user)
    line = refused(*run_cli(analyze_args(world, user), capsys), str(user), "not a KD Lens report")
    assert "metrics.csv" in line
    assert fingerprint(user) == before


def test_a_previous_report_is_replaced_whole(world, tmp_path, capsys):
    out = tmp_path / "report"
    assert run_cli(analyze_args(world, out, "--probe", "9"), capsys)[0] == 0
    assert len(list((out / "maps").glob("*.npz"))) == 9
    (out / "overlays" / "stale.png").write_bytes(b"from an older run")
    assert run_cli(analyze_args(world, out), capsys)[0] == 0
    maps = sorted(p.name for p in (out / "maps").glob("*.npz"))
    assert maps == [f"probe_{i:03d}.npz" for i in range(6)]  # no stale maps of the larger run
    assert not (out / "overlays" / "stale.png").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["probe_indices"]) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temporary folder left


def test_a_failed_write_leaves_the_previous_report_as_it_was(world, tmp_path, capsys, monkeypatch):
    import engine.reports.writer as report_module
    from engine.atomic import FileWriteError

    out = tmp_path / "report"
    assert run_cli(analyze_args(world, out), capsys)[0] == 0
    before = fingerprint(out)

    def full_disk(*_args, **_kwargs):
        raise FileWriteError("could not write an overlay: No space left on device")

    monkeypatch.setattr(report_module, "save_png", full_disk)
    refused(*run_cli(analyze_args(world, out, "--seed", "1"), capsys), "No space left")
    assert fingerprint(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_an_empty_folder_takes_a_report(world, tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert run_cli(analyze_args(world, out), capsys)[0] == 0
    assert (out / "manifest.json").is_file()


# --- item 7: normalisation is never guessed ------------------------------------------------------


def _bare_roles(root):
    return {
        "teacher": bare_checkpoint(root / "teacher.pt", "large_cnn", 1),
        "student": bare_checkpoint(root / "student.pt", "small_cnn", 2),
        "base": bare_checkpoint(root / "base.pt", "small_cnn", 3),
    }


def _normalisation(out):
    return json.loads((out / "manifest.json").read_text())["normalization"]


ARCHS = ("--arch-teacher", "large_cnn", "--arch-student", "small_cnn")


def test_a_checkpoint_in_a_run_folder_is_fed_what_the_run_used(world, tmp_path, capsys):
    run = tmp_path / "run"
    roles = _bare_roles(run / "checkpoints")  # weights without cards, inside a run folder
    (run / "config.json").write_text(tiny_train_config().to_json())
    (run / "state.json").write_text(json.dumps({"version": 2, "completed": {}}))
    (run / "sets.json").write_text(json.dumps({"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}))
    out = tmp_path / "report"
    code, err = run_cli(analyze_args(world, out, *ARCHS, roles=roles), capsys)
    assert code == 0, err
    used = _normalisation(out)
    assert used["mean"] == [0.5] * 3 and used["std"] == [0.25] * 3  # not ImageNet's
    assert str(run) in used["source"]


def test_no_stated_normalisation_is_a_warning_and_recorded_never_silent(world, tmp_path, capsys):
    out = tmp_path / "report"
    code, err = run_cli(analyze_args(world, out, *ARCHS, roles=_bare_roles(tmp_path)), capsys)
    assert code == 0, err
    assert "--mean and --std" in err and "no checkpoint states how its inputs were normalised" in err
    assert _normalisation(out)["source"].startswith("assumed")


def test_mean_and_std_flags_are_used_and_recorded(world, tmp_path, capsys):
    out = tmp_path / "report"
    args = analyze_args(
        world, out, *ARCHS, "--mean", "0.4,0.45,0.5", "--std", "0.2", roles=_bare_roles(tmp_path)
    )
    assert run_cli(args, capsys)[0] == 0
    used = _normalisation(out)
    assert used == {"mean": [0.4, 0.45, 0.5], "std": [0.2, 0.2, 0.2], "source": "--mean/--std"}


def test_checkpoints_that_state_different_normalisations_are_refused(world, tmp_path, capsys):
    imagenet = checkpoint(
        tmp_path / "t.safetensors", "large_cnn", 1, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    )
    roles = {"teacher": imagenet, "student": world["student"], "base": world["base"]}
    out = tmp_path / "report"
    refused(*run_cli(analyze_args(world, out, roles=roles), capsys), "different normalisations", "--mean")
    assert not out.exists()
    roles_ok = analyze_args(world, out, "--mean", "0.5", "--std", "0.25", roles=roles)
    assert run_cli(roles_ok, capsys)[0] == 0  # the user's word settles it


# --- item 8: every output folder problem is a message ---------------------------------------------


def _out_commands(world, tmp_path):
    config = tmp_path / "run.json"
    config.write_text(tiny_train_config().to_json())
    return {
        "train": lambda out: ["train", "--config", config, "--out", out],
        "demo": lambda out: ["demo", "--quick", "--out", out],
        "analyze": lambda out: analyze_args(world, out),
    }


@pytest.mark.parametrize("command", ["train", "demo", "analyze"])
def test_out_that_is_a_file_or_under_a_file(world, tmp_path, capsys, command):
    argv = _out_commands(world, tmp_path)[command]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    refused(*run_cli(argv(a_file), capsys), str(a_file), "is a file, not a folder")
    refused(*run_cli(argv(a_file / "sub"), capsys), str(a_file), "is a file, not a folder")
    assert a_file.read_text() == "keep me"


@pytest.mark.parametrize("command", ["train", "demo", "analyze"])
def test_out_on_a_read_only_place(world, tmp_path, capsys, command):
    argv = _out_commands(world, tmp_path)[command]
    with read_only_place(tmp_path) as place:
        refused(*run_cli(argv(place / "out"), capsys), str(place), "cannot be written")
        assert list(place.iterdir()) == []


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped after its first KD epoch (of two): something to resume."""
    out = tmp_path_factory.mktemp("damaged") / "run"
    config = tiny_train_config()
    config = copy.deepcopy(config).__class__.from_dict(
        dict(config.to_dict(), base=dict(config.to_dict()["base"], epochs=2),
             student=dict(config.to_dict()["student"], epochs=2))
    )  # fmt: skip
    stop = StopToken()
    for event in train_job(config, out, stop=stop):
        if isinstance(event, EpochSummary) and event.role == "student" and event.epoch == 1:
            stop.stop()
    assert not RunDir(out).read_state().get("finished")
    return out


def test_a_cut_last_history_line_resumes_from_the_last_good_epoch(stopped_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    history = run / "history.jsonl"
    history.write_bytes(history.read_bytes()[:-10])
    code, err = run_cli(["train", "--resume", run], capsys)
    assert code == 0, err
    assert RunDir(run).read_state()["finished"]
    rows = [json.loads(line) for line in history.read_text().splitlines()]
    assert [(r["role"], r["epoch"]) for r in rows if r["role"] != "teacher"] == [
        ("base", 1), ("student", 1), ("base", 2), ("student", 2)
    ]  # fmt: skip


def test_cut_training_states_resume_from_the_last_good_epoch_and_say_so(stopped_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    for state in (run / "train_state").glob("*.pt"):
        state.write_bytes(state.read_bytes()[:100])
    code, err = run_cli(["train", "--resume", run], capsys)
    assert code == 0, err
    assert "train_state/student_epoch_0001.pt cannot be read" in err and "resuming from epoch 0" in err
    assert RunDir(run).read_state()["finished"]
    assert RunDir(run).completed_epochs() == {"teacher": 1, "base": 2, "student": 2}


@pytest.mark.parametrize("damage", ["state.json", "config.json"])
def test_a_damaged_run_folder_says_exactly_what_is_damaged(stopped_run, tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    if damage == "state.json":
        (run / "state.json").write_text("{not json")
    else:
        (run / "config.json").unlink()
    before = fingerprint(run)
    refused(*run_cli(["train", "--resume", run], capsys), damage, "damaged")
    assert fingerprint(run) == before
