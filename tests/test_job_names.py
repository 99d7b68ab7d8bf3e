"""Every job named by a string resolves: the module imports and the function is there, taking the
arguments its runner passes. A renamed job otherwise fails only at run time, in a child process
or a launched rank, long after the change that broke it."""

from __future__ import annotations

import inspect

import pytest

from engine.cli.entry import SUBCOMMANDS
from engine.distributed.rank import JOB_FUNCTIONS
from gui.jobs.child import job_function
from gui.jobs.factories import JOBS


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_the_window_starts_by_name_resolves(name: str) -> None:
    function = job_function(JOBS[name])
    assert callable(function)
    inspect.signature(function).bind_partial(stop=None)  # the child process and the thread pass it


@pytest.mark.parametrize("name", sorted(JOB_FUNCTIONS))
def test_every_job_a_launched_rank_runs_resolves(name: str) -> None:
    function = job_function(JOB_FUNCTIONS[name])
    assert callable(function)
    inspect.signature(function).bind_partial(stop=None, group=None)  # engine.distributed.rank's call


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_cli_subcommand_module_imports(command: str) -> None:
    """The parser skips a subcommand whose module is missing; none may be missing."""
    import importlib

    module = importlib.import_module(SUBCOMMANDS[command])
    assert callable(module.add_parser)
