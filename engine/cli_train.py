"""`kdlens-cli train` and `kdlens-cli demo`: train teacher, base and student into a run folder.

    kdlens-cli train --config run.json --out RUN_DIR     a new run from a TrainConfig JSON file
    kdlens-cli train --resume RUN_DIR                    continue from its last complete epoch
    kdlens-cli demo --out RUN_DIR [--preset cue-failure] [--quick]

Exit codes as in engine/cli.py: 0 done, 2 bad input (one line), 1 a bug, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from tqdm import tqdm

from engine.events import EpochSummary, Event, JobFinished, LogLine, MetricsRow, ProbeFrame, Progress


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
    demo.add_argument("--preset", choices=("kd-gain", "cue-failure"), default="kd-gain")
    demo.add_argument("--quick", action="store_true", help="a couple of steps per role (seconds)")
    demo.set_defaults(run=run_demo)


def run_train(args: argparse.Namespace) -> int:
    from engine.train import ConfigError, TrainConfig, train_job

    if args.resume:
        if args.out:
            raise ConfigError("--resume continues the run in RUN_DIR; leave out --out")
        return drive(train_job(None, args.resume, resume=True))
    if not args.out:
        raise ConfigError("--config needs --out RUN_DIR (a new or empty folder for the run)")
    return drive(train_job(TrainConfig.load(args.config), args.out))


def run_demo(args: argparse.Namespace) -> int:
    from engine.demo import demo_job

    return drive(demo_job(args.out, preset=args.preset, quick=args.quick))


def drive(events: Iterable[Event]) -> int:
    """Show a job's events as a progress bar and one line per epoch; 0 when it finished."""
    bar: tqdm | None = None  # opened at the first step, so a configuration error prints one line
    try:
        for event in events:
            if isinstance(event, Progress):
                if bar is None:
                    bar = tqdm(total=event.total, unit="step", file=sys.stderr, dynamic_ncols=True)
                bar.total = event.total
                bar.n = event.done
                bar.set_description(f"{event.role} epoch {event.epoch}")
                if event.loss is not None:
                    bar.set_postfix(loss=f"{event.loss:.3f}", acc=f"{event.accuracy or 0:.2f}", refresh=False)
                bar.refresh()
            elif isinstance(event, EpochSummary):
                heldout = "n/a" if event.heldout_accuracy is None else f"{event.heldout_accuracy:.3f}"
                tqdm.write(
                    f"{event.role:>9} epoch {event.epoch:3d}: loss {event.train_loss:.3f}, train acc "
                    f"{event.train_accuracy:.3f}, held-out acc {heldout} ({event.seconds:.1f} s)",
                    file=sys.stderr,
                )
            elif isinstance(event, LogLine):
                tqdm.write(f"{event.level}: {event.message}", file=sys.stderr)
            elif isinstance(event, (ProbeFrame, MetricsRow)):
                continue
            elif isinstance(event, JobFinished):
                if bar is not None:
                    bar.close()
                accuracy = event.summary.get("heldout_accuracy", {})
                shown = ", ".join(f"{role} {value:.3f}" for role, value in accuracy.items())
                if event.stopped:
                    print(f"stopped; resume with: kdlens-cli train --resume {event.out_dir}")
                    return 130
                print(f"run written to {event.out_dir}; held-out accuracy: {shown}")
    finally:
        if bar is not None:
            bar.close()
    return 0
