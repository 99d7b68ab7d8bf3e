"""Agreement, KL and calibration (SPEC §11) against hand computations and torchmetrics, the paired
bootstrap of a statistic against a brute force, and both kinds through a context and an analysis."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from report_fixtures import analyze_args, card_checkpoints
from torch import nn

from engine.cli import main as cli_main
from engine.data.imageset import ImageSet
from engine.evidence.agreement import AGREEMENT, agreement, kl_divergence, top1_agreement, top5_agreement
from engine.evidence.calibration import (
    CALIBRATION,
    calibration,
    confidence_and_correct,
    equal_mass_bins,
    equal_width_bins,
    expected_calibration_error,
)
from engine.evidence.context import EvidenceContext
from engine.evidence.gather import gather_evidence
from engine.evidence.intervals import bootstrap_mean, paired_bootstrap
from engine.evidence.registry import resolve_settings
from engine.reports.folder import read_report

TEACHER = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.0]])
MODEL = np.array([[1.0, 2.0, 0.0], [0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])


def _hand_kl(p_logits, q_logits, tau):
    """Σ_c p_c (log p_c − log q_c) with p, q = softmax(z / τ), written out class by class."""
    out = []
    for zp, zq in zip(p_logits, q_logits, strict=True):
        p = [math.exp(v / tau) for v in zp]
        q = [math.exp(v / tau) for v in zq]
        p = [v / sum(p) for v in p]
        q = [v / sum(q) for v in q]
        out.append(sum(pc * (math.log(pc) - math.log(qc)) for pc, qc in zip(p, q, strict=True)))
    return out


def test_agreement_and_kl_match_a_hand_computation():
    assert top1_agreement(TEACHER, MODEL).tolist() == [0.0, 1.0, 1.0]
    for tau in (1.0, 4.0):
        np.testing.assert_allclose(
            kl_divergence(TEACHER, MODEL, tau), _hand_kl(TEACHER, MODEL, tau), rtol=1e-12
        )
    np.testing.assert_allclose(kl_divergence(TEACHER, TEACHER, 1.0), 0.0, atol=1e-15)
    # top-5 of seven classes: the teacher's class 0 ranks 5th, then 6th, in the model's scores
    teacher = np.eye(7)[[0, 0]] * 5
    model = np.array([[6, 5, 4, 3, 2.5, 0, 2], [6, 5, 4, 3, 2, 1, 1.5]], dtype=float)
    model[0, 0], model[1, 0] = 2.6, 1.2
    assert top5_agreement(teacher, model).tolist() == [1.0, 0.0]
    # labels: the teacher is wrong on image 1 only (it says 1, the label is 2), where the model agrees
    result = agreement({"teacher": TEACHER, "student": MODEL}, np.array([0, 2, 0]), 4.0, seed=0)
    assert result.mistakes == 1 and result.teacher_accuracy == pytest.approx(2 / 3)
    student = result.intervals["student"]
    assert student["top1"].mean == pytest.approx(2 / 3) and student["top1_teacher_wrong"].mean == 1.0
    assert student["kl_kd"].mean == pytest.approx(np.mean(_hand_kl(TEACHER, MODEL, 4.0)))
    assert "top5" not in student and not result.claims  # 3 classes; no base, no claim


def test_claims_say_which_way_the_student_differs():
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(60, 8)) * 3
    labels = teacher.argmax(1)
    close, far = teacher + rng.normal(size=teacher.shape) * 0.1, rng.normal(size=teacher.shape) * 3
    summary = agreement({"teacher": teacher, "student": close, "base": far}, labels, 4.0).as_dict()
    assert {c["verdict"] for c in summary["claims"].values() if c["n"]} == {"supported"}
    assert summary["claims"]["teacher's mistakes"]["n"] == 0  # the teacher is never wrong here
    swapped = agreement({"teacher": teacher, "student": far, "base": close}, labels, 4.0).as_dict()
    assert swapped["claims"]["KL tau=1"]["verdict"] == "not supported"
    assert swapped["claims"]["KL tau=KD"]["difference"] == "KL(T || base) - KL(T || student), tau = 4"


def test_ece_matches_a_hand_binned_case():
    confidence = np.array([0.05, 0.1, 0.2, 0.5, 0.55, 0.95, 1.0])
    correct = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    # (lo, hi] bins of width 1/15; 0.2 = 3/15 closes bin 2; 1.0 closes the last
    assert equal_width_bins(confidence).tolist() == [0, 1, 2, 7, 8, 14, 14]
    hand = (0.05 + 0.9 + 0.8 + 0.5 + 0.55 + abs(2 - 1.95)) / 7
    assert expected_calibration_error(confidence, correct, equal_width_bins(confidence)) == pytest.approx(
        hand
    )
    # equal mass, 3 bins of 7 sorted images: sizes 3, 2, 2
    bins = equal_mass_bins(confidence, 3)
    assert bins.tolist() == [0, 0, 0, 1, 1, 2, 2]
    hand = (abs(2 - 0.35) + abs(1 - 1.05) + abs(2 - 1.95)) / 7
    assert expected_calibration_error(confidence, correct, bins, 3) == pytest.approx(hand)


def test_ece_matches_torchmetrics_on_random_logits():
    from torchmetrics.classification import MulticlassCalibrationError

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 6, 300)
    logits = rng.normal(size=(300, 6)) * 2 + 1.5 * np.eye(6)[labels]
    confidence, correct = confidence_and_correct(logits, labels)
    ours = expected_calibration_error(confidence, correct, equal_width_bins(confidence))
    metric = MulticlassCalibrationError(num_classes=6, n_bins=15, norm="l1")
    theirs = float(metric(torch.softmax(torch.tensor(logits), 1), torch.tensor(labels)))
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert calibration({"teacher": logits}, labels).models["teacher"]["ece"].mean == pytest.approx(ours)


def test_paired_bootstrap_against_brute_force():
    values = np.array([0.3, -1.2, 2.5, 0.7, 1.1, -0.4])
    mean = paired_bootstrap(lambda i: values[i].mean(axis=1), len(values), seed=4)
    assert mean == bootstrap_mean(
        values, seed=4
    )  # a mean as the statistic: the same draws, the same interval
    # max of 3 values: the exact bootstrap law puts 1/27 on 1, 7/27 on 2, 19/27 on 3
    small = np.array([1.0, 2.0, 3.0])
    interval = paired_bootstrap(lambda i: small[i].max(axis=1), 3, seed=0)
    assert (interval.mean, interval.low, interval.high) == (3.0, 1.0, 3.0)
    # the ECE difference: the vectorised resamples against one ECE per resample, on the same draws
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, 40)
    logits = {r: rng.normal(size=(40, 4)) * 2 for r in ("student", "base")}
    claim = calibration(logits, labels, seed=7).claim[0]
    per_model = {r: confidence_and_correct(z, labels) for r, z in logits.items()}

    def ece(role, picked):
        confidence, correct = (part[picked] for part in per_model[role])
        return expected_calibration_error(confidence, correct, equal_width_bins(confidence))

    draws = np.random.default_rng(7)
    brute = [
        ece("base", row) - ece("student", row)
        for _ in range(10) for row in draws.integers(0, 40, size=(1000, 40))
    ]  # fmt: skip
    assert np.percentile(brute, [2.5, 97.5]) == pytest.approx([claim.low, claim.high], abs=1e-12)
    assert claim.mean == pytest.approx(ece("base", np.arange(40)) - ece("student", np.arange(40)))


class _Counting(nn.Module):
    """A linear classifier of 3 x 4 x 4 images that counts its forward passes."""

    def __init__(self, seed: int, classes: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.fc = nn.Linear(48, classes)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.fc(x.flatten(1))


def test_both_kinds_share_one_prediction_pass_and_take_the_runs_temperature():
    classes = 7
    labels = torch.arange(56) % classes
    data = ImageSet(torch.rand(56, 3, 4, 4), labels, tuple(f"c{i}" for i in range(classes)))
    models = {
        role: _Counting(seed, classes)
        for seed, role in enumerate(("teacher", "student", "base", "assistant"))
    }
    values = {
        "localisation_n": 0,
        "faithfulness_n": 0,
        "sanity_n": 0,
        "agreement_n": 28,
        "calibration_n": 28,
        "classes_per_class": 0,
    }
    context = EvidenceContext(
        models, {}, data, lambda x: x, resolve_settings(values, training=False), seed=3, kd_temperature=2.5
    )
    outcomes = gather_evidence(context).outcomes
    assert {kind for kind, o in outcomes.items() if o.note is None} == {"agreement", "calibration"}
    assert [m.calls for m in models.values()] == [1] * 4  # one pass for both kinds
    summary = outcomes["agreement"].summary
    assert summary["temperature"] == 2.5 and summary["temperature_source"] == "the run's KD loss"
    assert list(summary["models"]) == ["student", "base", "assistant"] and "top5" in summary["models"]["base"]
    with torch.no_grad():
        picked = data.images[context.sets["agreement"]]
        expected = (models["teacher"](picked).argmax(1) == models["base"](picked).argmax(1)).double().mean()
    assert summary["models"]["base"]["top1"]["mean"] == pytest.approx(float(expected), abs=1e-6)
    assert [r["model"] for r in outcomes["calibration"].rows] == ["teacher", "student", "base", "assistant"]
    assert all(m.training for m in models.values())  # eval mode only while they predicted
    study = AGREEMENT.study_values(outcomes["agreement"].event("agreement", 1))
    assert study["agreement claim top-1: A(T, student) - A(T, base), top-1"][1] is True
    study = CALIBRATION.study_values(outcomes["calibration"].event("calibration", 1))
    assert study["calibration claim ECE: ECE(base) - ECE(student)"][1] and "calibration ece student" in study


def test_both_kinds_land_in_an_analysis_report(tmp_path):
    out = tmp_path / "report"
    args = analyze_args(card_checkpoints(tmp_path / "ck"), out, "--localisation-n", "0", "--sanity-n", "0")
    assert cli_main(args) == 0
    with open(out / "agreement.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["model", "quantity", "mean", "ci_low", "ci_high", "n"]
    assert {r["model"] for r in rows} == {"student", "base"} and int(rows[0]["n"]) == 16
    summary = json.loads((out / "agreement.json").read_text())
    assert summary["temperature"] == 4.0 and "option" in summary["temperature_source"]
    assert set(summary["claims"]) == {"top-1", "KL tau=1", "KL tau=KD", "teacher's mistakes"}  # 4 classes
    with open(out / "calibration.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["teacher", "student", "base"]
    assert json.loads((out / "calibration.json").read_text())["claims"]["ECE"]["verdict"] in (
        "supported",
        "not supported",
        "inconclusive",
    )
    page = (out / "index.html").read_text()
    assert "<h3>Agreement and fidelity</h3>" in page and "<h3>Calibration</h3>" in page
    assert 'href="agreement.csv"' in page and 'href="calibration.csv"' in page
    assert {"agreement", "calibration"} <= {t.kind for t in read_report(out).evidence}
