"""`kdlens-cli`: the headless command line (analyze, train, demo).

Exit codes scripts can trust: 0 success, 2 usage or input error (one line on stderr, no
traceback), 1 unexpected failure, 130 interrupted. Each subcommand lives in its own module
exposing ``add_parser(subparsers)`` and ``run(args) -> int``; the table below lists them
explicitly so PyInstaller sees every import.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine import __version__
from engine.errors import KDLensError

SUBCOMMANDS = {
    "analyze": "engine.cli.analyze",
    "train": "engine.cli.train",
    "demo": "engine.cli.train",
    "study": "engine.cli.study",
    "report": "engine.cli.report",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kdlens-cli",
        description="KD Lens without a window: explain and measure knowledge distillation.",
    )
    parser.add_argument("--version", action="version", version=f"kdlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    seen = set()
    for module_name in SUBCOMMANDS.values():
        if module_name in seen:
            continue
        seen.add(module_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name != module_name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except KDLensError as exc:
        print(f"kdlens-cli {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kdlens-cli {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
