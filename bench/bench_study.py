"""The 3-seed study of both demo presets: what KD Lens reports about them, with intervals.

Run: .venv/bin/python bench/bench_study.py [--seeds 0,1,2] [--out DIR]
(6 full demo runs; about 4 minutes each on 2 cores.) Prints, per preset, the key rows of
study.csv: held-out accuracy of every role (and on the cue-flipped split), student - base with
its 95 % t-interval over seeds and verdict, the localisation differences and UniCAM's two
faithfulness claims. bench/README.md holds the figures of the last run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from engine.events import JobFinished, LogLine
from engine.jobs.demo import demo_config
from engine.jobs.study import study_job
from engine.runs.study_folder import read_study
from engine.vocab import DEMO_PRESETS

KEY = (
    "accuracy ",
    "localisation distilled - residual",
    "localisation gradcam_student - gradcam_base",
    "claim",
)


def cell(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", help="keep the study folders here (default: a temporary folder)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        for preset in DEMO_PRESETS:
            started = time.perf_counter()
            for event in study_job(demo_config(preset), seeds, root / preset, name=preset):
                if isinstance(event, LogLine) and event.message.startswith("study: seed"):
                    print(f"  {event.message} ({time.perf_counter() - started:.0f} s)", flush=True)
                if isinstance(event, JobFinished) and event.stopped:
                    raise SystemExit(f"{preset}: the study stopped")
            document = read_study(root / preset)
            minutes = (time.perf_counter() - started) / 60
            print(f"\n## {preset}: seeds {seeds}, {minutes:.1f} min")
            print(f"| quantity | {' | '.join(f'seed {s}' for s in seeds)} | mean [95 % CI] | verdict |")
            print(f"| --- |{' --- |' * len(seeds)} --- | --- |")
            for row in document["quantities"]:
                if not any(row["quantity"].startswith(k) or k in row["quantity"] for k in KEY):
                    continue
                values = " | ".join(cell(row["seeds"][str(s)]) for s in seeds)
                interval = f"{cell(row['mean'])} [{cell(row['ci_low'])}, {cell(row['ci_high'])}]"
                print(f"| {row['quantity']} | {values} | {interval} | {row.get('verdict', '')} |", flush=True)


if __name__ == "__main__":
    main()
