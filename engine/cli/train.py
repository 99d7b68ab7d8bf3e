"""`kdlens-cli train` and `kdlens-cli demo`: train teacher, base and student into a run folder.

    kdlens-cli train --config run.json --out RUN_DIR     a new run from a TrainConfig JSON file
    kdlens-cli train --resume RUN_DIR                    continue from its last complete epoch
    kdlens-cli train ... --nproc N                       N local processes (DDP, torchrun's agent)
    torchrun --nproc-per-node N -m engine.cli train ...  the same under torchrun (multi-node too)
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
    train.add_argument(
        "--nproc", type=int, default=1, metavar="N",
        help="train with N local processes (DistributedDataParallel, Gloo on CPUs, NCCL on GPUs); the "
        "config's batch size is the global batch and must be a multiple of N",
    )  # fmt: skip
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
    from engine.training.config import ConfigError, TrainConfig

    if args.resume:
        if args.out:
            raise ConfigError("--resume continues the run in RUN_DIR; leave out --out")
        return _train(args, None, args.resume, resume=True)
    if not args.out:
        raise ConfigError("--config needs --out RUN_DIR (a new or empty folder for the run)")
    from engine.distributed import follower

    # under torchrun, ranks other than 0 take rank 0's configuration: the file may be on one node only
    return _train(args, None if follower() else TrainConfig.load(args.config), args.out, resume=False)


def _train(args: argparse.Namespace, config, out: str, resume: bool) -> int:
    """In this process; in ``--nproc`` local ranks; or as one rank of torchrun (its environment)."""
    from engine import distributed
    from engine.jobs.train import train_job

    if args.nproc != 1:
        if distributed.requested():
            raise distributed.DistributedError("--nproc starts its own processes; not under torchrun")
        if config is not None:
            config.validate()
            distributed.per_rank_batch(config.batch_size, args.nproc)
        from engine.distributed.launch import launched_job
        from engine.runs import RunDir

        kwargs = {"config": config, "out_dir": out, "resume": resume}
        hint = f" --nproc {args.nproc}"
        try:
            return drive(launched_job(args.nproc, "train", kwargs), resume_hint=hint)
        except distributed.DistributedError as exc:
            if not (RunDir(out).is_run() or RunDir(out).is_started()):
                raise
            raise distributed.DistributedError(
                f"{exc}. The run folder keeps every committed epoch; resume with: kdlens-cli train "
                f"--resume {out}{hint}"
            ) from None
    with distributed.joined() as group:
        events = train_job(config, out, resume=resume, group=group)
        if group.leader:
            return drive(events)
        for _ in events:  # rank 0 shows the run
            pass
        return 0


def run_demo(args: argparse.Namespace) -> int:
    from engine.jobs.demo import demo_job

    return drive(demo_job(args.out, preset=args.preset, quick=args.quick))


def drive(events: Iterable[Event], resume_hint: str = "") -> int:
    """Show a training job's events; 0 when it finished, 130 when it was stopped."""
    finished = show_job(events)
    if finished is None:
        return 0
    if finished.stopped:
        print(f"stopped; resume with: kdlens-cli train --resume {finished.out_dir}{resume_hint}")
        return 130
    accuracy = finished.summary.get("heldout_accuracy", {})
    shown = ", ".join(f"{role} {value:.3f}" for role, value in accuracy.items())
    print(f"run written to {finished.out_dir}; held-out accuracy: {shown}")
    return 0
