"""A kind of evidence is one record (engine.evidence.registry): a toy kind registered here, in this
file alone, appears in the command line's flags, the training configuration, the analysis report
(its files, its section, its claim), a study's quantities and the window's Evidence tab."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from report_fixtures import analyze_args, card_checkpoints

from engine.cli import main as cli_main
from engine.cli.entry import build_parser
from engine.events import Evidence
from engine.evidence import registry
from engine.evidence.intervals import paired_difference, verdict
from engine.evidence.registry import Claim, EvidenceKind, IntervalPlot, Option, Outcome, claim_from
from engine.reports.folder import read_report
from engine.training.config import TrainConfig


def _toy_run(context, settings):
    """Per image: is the student right, is the base right; the claim: student - base > 0."""
    positions = context.sets.get("toy")
    if positions is None or not context.group.leader:
        return None
    images = context.prepare(context.data.images[positions])
    labels = context.labels[positions]
    right = {}
    with torch.no_grad():
        for role in ("student", "base"):
            right[role] = (context.models[role](images).argmax(1).cpu() == labels).double().numpy()
    interval = paired_difference(right["student"], right["base"], seed=context.seed)
    summary = {"claims": {"accuracy": {**interval.as_dict(), "verdict": verdict(interval)}}}
    rows = [{"model": role, "accuracy": float(np.mean(values))} for role, values in right.items()]
    return Outcome(summary, rows, images=positions.tolist())


def _toy_claims(summary):
    return [
        claim_from("toy", name, "accuracy(student) - accuracy(base)", c, "the student is right more often")
        for name, c in summary.get("claims", {}).items()
    ]


TOY = EvidenceKind(
    name="toy",
    title="Toy accuracy",
    description="How often each model is right on its own set (a test's kind of evidence).",
    run=_toy_run,
    columns=("model", "accuracy"),
    table=lambda t: (["model", "accuracy"], [[r["model"], r["accuracy"]] for r in t.rows]),
    options=(Option("n", 8, "held-out images for the toy", training=12),),
    claims=_toy_claims,
    plot=lambda t: IntervalPlot(
        "Toy accuracy",
        tuple(r["model"] for r in t.rows),
        {"accuracy": [(r["accuracy"], None, None) for r in t.rows]},
        "accuracy",
    ),  # fmt: skip
    seed_offset=99,
)


@pytest.fixture
def toy(monkeypatch):
    """The toy registered in a copy of the registry that the test leaves behind."""
    monkeypatch.setattr(registry, "EVIDENCE_KINDS", dict(registry.EVIDENCE_KINDS))
    return registry.register_evidence(TOY)


def test_the_toy_kind_has_its_flag_and_its_training_field(toy, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "--help"])
    assert "--toy-n" in capsys.readouterr().out
    config = TrainConfig(evidence_options={"evidence_toy": 5})
    assert config.evidence_settings()["toy"] == {"n": 5}
    assert json.loads(config.to_json())["evidence_toy"] == 5
    assert TrainConfig().evidence_settings()["toy"] == {"n": 12}  # the kind's training default


def test_the_toy_kind_runs_in_an_analysis_and_lands_in_the_report(toy, tmp_path):
    paths = card_checkpoints(tmp_path / "ck")
    out = tmp_path / "report"
    args = analyze_args(paths, out, "--localisation-n", "0", "--sanity-n", "0", "--toy-n", "8")
    assert cli_main(args) == 0
    rows = (out / "toy.csv").read_text().splitlines()
    assert rows[0] == "model,accuracy" and len(rows) == 3
    assert json.loads((out / "toy.json").read_text())["claims"]["accuracy"]["verdict"] in (
        "supported",
        "not supported",
        "inconclusive",
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["toy_n"] == 8 and len(manifest["evidence"]["sets"]["toy"]) == 8
    page = (out / "index.html").read_text()
    assert "<h3>Toy accuracy</h3>" in page and "toy (accuracy)" in page  # its section and its claim
    assert 'href="toy.csv"' in page
    read = {t.kind: t for t in read_report(out).evidence}
    assert [r["model"] for r in read["toy"].rows] == ["student", "base"]


def test_a_study_and_the_window_show_the_toy_kind(toy, qtbot):
    from gui.model.run_model import RunModel
    from gui.panels.evidence import EvidencePanel

    table = Evidence(
        3, "toy", {"claims": {"accuracy": {"mean": 0.25, "ci_low": 0.1, "ci_high": 0.4, "n": 8,
                                           "verdict": "supported"}}},
        ({"model": "student", "accuracy": 0.75}, {"model": "base", "accuracy": 0.5}),
    )  # fmt: skip
    assert toy.study_values(table) == {"toy claim accuracy: accuracy(student) - accuracy(base)": (0.25, True)}
    assert registry.claims_of([table]) == [
        Claim("toy", "accuracy", "accuracy(student) - accuracy(base)", 0.25, 0.1, 0.4, 8, "supported",
              "the student is right more often")
    ]  # fmt: skip
    model = RunModel()
    panel = EvidencePanel(model)
    qtbot.addWidget(panel)
    model.apply(table)
    view = panel.view("toy")
    assert view is not None and panel.tabs.tabText(panel.tabs.indexOf(view)) == "Toy accuracy"
    assert view.table.rowCount() == 2 and view.table.item(0, 1).text() == "0.7500"
    assert (
        "supported" in panel.verdicts.text() and "accuracy(student) - accuracy(base)" in panel.verdicts.text()
    )


def test_registering_a_kind_twice_or_an_option_twice_is_refused(toy):
    with pytest.raises(ValueError, match="registered already"):
        registry.register_evidence(TOY)
    clash = EvidenceKind(
        "toy", "x", "x", _toy_run, ("a",), lambda t: ([], []), options=(Option("n", 1, "x"),)
    )
    with pytest.raises(ValueError):
        registry.register_evidence(clash)


def test_kinds_are_torch_free_until_they_run():
    """The window and the command line's checks read the registry without importing torch."""
    import subprocess
    import sys

    code = (
        "import sys, engine.evidence.registry as r, engine.jobs.analyze_config;"
        "assert r.evidence_kinds(); assert 'torch' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1]
    )
    assert done.returncode == 0, done.stderr
