"""`kdlens-cli study`: one configuration over several seeds, with intervals over the seeds.

    kdlens-cli study --config run.json --seeds 0,1,2 --out STUDY_DIR
    kdlens-cli study --preset kd-gain --seeds 0,1,2 --out STUDY_DIR [--quick]

Each seed is a run folder STUDY_DIR/seed_<s>; running the same command again continues an
interrupted study. Exit codes as in engine/cli/entry.py.
"""

from __future__ import annotations

import argparse

from engine.cli.progress import show_job
from engine.vocab import DEMO_PRESETS


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "study",
        help="train one configuration with several seeds; intervals over the seeds",
        description="Train a configuration (or a demo preset) once per seed and write study.csv and "
        "study.json: per seed and as mean with a 95 % t-interval, held-out accuracy of every role, "
        "student - base, the final FSS/RS, localisation and faithfulness, with verdicts.",
        epilog="example: kdlens-cli study --preset kd-gain --seeds 0,1,2 --out studies/kd-gain",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="TrainConfig JSON file (its seed is replaced by each of --seeds)")
    source.add_argument("--preset", choices=DEMO_PRESETS, help="a built-in demo preset")
    p.add_argument(
        "--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2; 3 or more for intervals)"
    )
    p.add_argument(
        "--out", required=True, metavar="STUDY_DIR", help="new folder (or this study's, to continue)"
    )
    p.add_argument("--quick", action="store_true", help="with --preset: a couple of steps per role (seconds)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.jobs.demo import demo_config
    from engine.jobs.study import study_job
    from engine.runs.study_folder import StudyError
    from engine.training.config import TrainConfig

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise StudyError(
            f"--seeds must be whole numbers separated by commas, e.g. 0,1,2; got {args.seeds!r}"
        ) from None
    if args.quick and not args.preset:
        raise StudyError("--quick shortens a demo preset; use it with --preset")
    config = demo_config(args.preset, quick=args.quick) if args.preset else TrainConfig.load(args.config)
    finished = show_job(study_job(config, seeds, args.out, name=args.preset or args.config))
    if finished is None or finished.stopped:
        print(f"study stopped; continue with the same command (--out {args.out})")
        return 130
    print(f"study written to {finished.out_dir} ({len(seeds)} seeds): study.csv, study.json")
    return 0
