"""`kdlens-cli train` and `kdlens-cli demo`: train teacher, base and student into a run folder.

    kdlens-cli train --config run.json --out RUN_DIR     a new run from a TrainConfig JSON file
    kdlens-cli train --resume RUN_DIR                    continue from its last complete epoch
    kdlens-cli demo --out RUN_DIR [--preset cue-failure] [--quick]

Exit codes as in engine/cli.py: 0 done, 2 bad input (one line), 1 a bug, 130 interrupted.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from engine.cli.progress import show_job
from engine.events import Event
from engine.vocab import DEMO_PRESETS


def add_parser(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="train teacher, base and student with live explanations",
        description="Train the roles of a TrainConfig (JSON) into a run folder, with probe maps and "
        "FSS/RS per epoch; or resume an interrupted run.",
        epilog="example: kdlens-cli train --config run.json --out runs/first",
    )
    group = train.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", help="TrainConfig JSON file (see config.json of any run folder)")
    group.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last complete epoch")
    train.add_argument("--out", metavar="RUN_DIR", help="new (or empty) run folder; required with --config")
    train.set_defaults(run=run_train)

    demo = subparsers.add_parser(
        "demo",
        help="train the built-in demo on synthetic shapes",
        description="Train the built-in demo (small CNNs on synthetic shapes) into a run folder.",
        epilog="example: kdlens-cli demo --out runs/demo",
    )
    demo.add_argument("--out", metavar="RUN_DIR", required=True, help="new (or empty) run folder")
    demo.add_argument("--preset", choices=DEMO_PRESETS, default=DEMO_PRESETS[0])
    demo.add_argument("--quick", action="store_true", help="a couple of steps per role (seconds)")
    demo.set_defaults(run=run_demo)


def run_train(args: argparse.Namespace) -> int:
    from engine.jobs.train import train_job
    from engine.training.config import ConfigError, TrainConfig

    if args.resume:
        if args.out:
            raise ConfigError("--resume continues the run in RUN_DIR; leave out --out")
        return drive(train_job(None, args.resume, resume=True))
    if not args.out:
        raise ConfigError("--config needs --out RUN_DIR (a new or empty folder for the run)")
    return drive(train_job(TrainConfig.load(args.config), args.out))


def run_demo(args: argparse.Namespace) -> int:
    from engine.jobs.demo import demo_job

    return drive(demo_job(args.out, preset=args.preset, quick=args.quick))


def drive(events: Iterable[Event]) -> int:
    """Show a training job's events; 0 when it finished, 130 when it was stopped."""
    finished = show_job(events)
    if finished is None:
        return 0
    if finished.stopped:
        print(f"stopped; resume with: kdlens-cli train --resume {finished.out_dir}")
        return 130
    accuracy = finished.summary.get("heldout_accuracy", {})
    shown = ", ".join(f"{role} {value:.3f}" for role, value in accuracy.items())
    print(f"run written to {finished.out_dir}; held-out accuracy: {shown}")
    return 0
