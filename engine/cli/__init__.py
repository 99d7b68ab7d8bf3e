"""`kdlens-cli`: the headless command line (``entry``: the parser and exit codes; one module per
subcommand; ``progress``: how a job's events are shown on a terminal)."""

from engine.cli.entry import main

__all__ = ["main"]
