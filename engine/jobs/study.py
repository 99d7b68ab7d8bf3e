"""A study: one training configuration with several seeds, and what holds across them (SPEC §10).

Each seed is an ordinary run folder ``<study>/seed_<s>``; an interrupted study continues where
it stopped (finished seeds are kept, an unfinished one resumes). When every seed has finished,
``study.json`` and ``study.csv`` give, per quantity, the value of each seed and the mean with its
95 % t-interval over seeds (none with fewer than 3): held-out accuracy of every role (also on
further held-out splits such as the cue-flipped one), student − base, the final FSS / RS per
layer, and what each evidence kind reports for studies (its registry record's ``study_values``),
with a verdict for the differences that make a claim.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.events import Event, JobFinished, LogLine, StopToken
from engine.evidence.intervals import t_interval, verdict
from engine.evidence.registry import get_kind
from engine.jobs.train import train_job
from engine.runs.folder import RunDir
from engine.runs.study_folder import StudyError, is_study, read_study, seed_folder, write_study
from engine.training.config import TrainConfig

__all__ = ["study_job", "summarise_seeds"]


def study_job(
    config: TrainConfig,
    seeds: Sequence[int],
    out_dir: str | Path,
    stop: StopToken | None = None,
    name: str = "",
) -> Iterator[Event]:
    """Train ``config`` once per seed into ``out_dir/seed_<s>``, then write the study table."""
    stop = stop or StopToken()
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not seeds or any(s < 0 for s in seeds):
        raise StudyError(f"a study needs one or more seeds >= 0, got {list(seeds)!r}; e.g. --seeds 0,1,2")
    out = Path(out_dir)
    _check_folder(out, config, seeds)
    out.mkdir(parents=True, exist_ok=True)
    write_study(out, _header(config, seeds, name, finished=False))
    for number, seed in enumerate(seeds, start=1):
        run = RunDir(seed_folder(out, seed))
        yield LogLine(f"study: seed {seed} ({number} of {len(seeds)}) in {run.path}")
        if run.is_run() and run.read_state().get("finished"):
            continue
        events = train_job(
            None if run.is_run() else replace(config, seed=seed), run.path, stop, resume=run.is_run()
        )
        for event in events:
            if isinstance(event, JobFinished):
                if event.stopped:
                    yield LogLine(f"study stopped during seed {seed}; run the same command again to continue")
                    yield JobFinished(summary={}, stopped=True, out_dir=str(out))
                    return
                continue
            yield event
    table = summarise_seeds({seed: RunDir(seed_folder(out, seed)) for seed in seeds})
    document = {**_header(config, seeds, name, finished=True), "quantities": table}
    write_study(out, document)
    atomic_write_text(out / "study.csv", _csv(table, seeds))
    for row in table:
        if row.get("verdict"):
            yield LogLine(f"study: {row['quantity']}: {_short(row)}")
    yield JobFinished(summary={"quantities": len(table), "seeds": seeds}, out_dir=str(out))


def _header(config: TrainConfig, seeds: list[int], name: str, finished: bool) -> dict[str, Any]:
    return {
        "version": 1,
        "name": name,
        "seeds": seeds,
        "runs": {str(seed): f"seed_{seed}" for seed in seeds},
        "finished": finished,
        "config": json.loads(config.to_json()),
        "interval": "mean ± t(k-1, 0.975) sd / sqrt(k) over seeds; none with k < 3",
    }


def _check_folder(out: Path, config: TrainConfig, seeds: list[int]) -> None:
    if out.exists() and not out.is_dir():
        raise StudyError(f"{out} is a file; give a folder for the study")
    if not out.exists() or not any(out.iterdir()):
        return
    if not is_study(out):
        raise StudyError(f"{out} is not empty and holds no study; pick an empty or new folder")
    earlier = read_study(out)
    if earlier["config"] != json.loads(replace(config, seed=earlier["config"]["seed"]).to_json()):
        raise StudyError(f"{out} holds a study of another configuration; pick an empty or new folder")


# ---- the table ---------------------------------------------------------------------------------


def summarise_seeds(runs: dict[int, RunDir]) -> list[dict[str, Any]]:
    """One row per quantity: the value of each seed, mean, t-interval, and a verdict where the
    quantity is a difference that makes a claim (positive = the claim holds)."""
    per_seed = {seed: _seed_values(run) for seed, run in runs.items()}
    names = list(dict.fromkeys(name for values in per_seed.values() for name in values))
    rows = []
    for name in names:
        values = [per_seed[seed].get(name, (math.nan, False))[0] for seed in runs]
        claim = any(per_seed[seed].get(name, (0, False))[1] for seed in runs)
        interval = t_interval(values)
        row = {
            "quantity": name,
            "seeds": {str(seed): _num(value) for seed, value in zip(runs, values, strict=True)},
            **interval.as_dict(),
        }
        if claim:
            row["verdict"] = verdict(interval)
        rows.append(row)
    return rows


def _seed_values(run: RunDir) -> dict[str, tuple[float, bool]]:
    """name -> (value, is a claim-making difference) of one finished run."""
    summary = run.read_state().get("summary", {})
    values: dict[str, tuple[float, bool]] = {}
    splits = {"clean": summary.get("heldout_accuracy", {}), **summary.get("heldout_accuracy_by_split", {})}
    for split, accuracy in splits.items():
        suffix = "" if split == "clean" else f" ({split})"
        for role, value in accuracy.items():
            values[f"accuracy {role}{suffix}"] = (float(value), False)
        if "student" in accuracy and "base" in accuracy:
            values[f"accuracy student - base{suffix}"] = (accuracy["student"] - accuracy["base"], True)
    rows = run.read_metrics()
    last = max((r.epoch for r in rows), default=None)
    for r in rows:
        if r.epoch == last:
            values[f"{r.metric} @ {r.layer}"] = (r.mean, False)
    evidence = run.read_evidence()
    final = max((e.epoch for e in evidence), default=None)
    for table in evidence:
        kind = get_kind(table.kind)
        if table.epoch == final and kind is not None and "note" not in table.summary:
            values.update(kind.study_values(table))
    return values


def _num(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 6)


def _short(row: dict[str, Any]) -> str:
    if row["ci_low"] is None:
        return f"mean {row['mean']} ({row.get('note', 'no interval')})"
    low, high = row["ci_low"], row["ci_high"]
    return f"{row['verdict']}: {row['mean']:+.4f} [{low:+.4f}, {high:+.4f}] over {row['n']} seeds"


def _csv(rows: list[dict[str, Any]], seeds: list[int]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["quantity", *(f"seed_{s}" for s in seeds), "mean", "ci_low", "ci_high", "n", "verdict"])
    for row in rows:
        cells = [row["seeds"].get(str(s)) for s in seeds] + [row["mean"], row["ci_low"], row["ci_high"]]
        writer.writerow(
            [row["quantity"], *("n/a" if c is None else c for c in cells), row["n"], row.get("verdict", "")]
        )
    return buffer.getvalue()
