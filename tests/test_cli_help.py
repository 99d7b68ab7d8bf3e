"""Command-line help reads as written (issue 21 item 11): every ``--help`` text, description and
epilog of ``kdlens-cli`` and its subcommands (and of ``kdlens``) prints no doubled percent sign
(argparse formats only help strings, not descriptions) and cites no document users do not have
(the specification's sections)."""

from __future__ import annotations

import argparse
import re

import pytest

from engine.cli.entry import build_parser

UNSHIPPED = re.compile(r"SPEC|§|ARCHITECTURE\.md|STYLE\.md")


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every subcommand's parser under it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def _texts() -> dict[str, str]:
    from gui.app import build_parser as app_parser

    parsers = [*_parsers(build_parser()), app_parser()]
    return {parser.prog: parser.format_help() for parser in parsers}


@pytest.mark.parametrize("prog", sorted(_texts()))
def test_every_help_text_prints_as_meant(prog):
    text = _texts()[prog]
    assert "%%" not in text, f"{prog} --help prints a doubled percent sign"
    assert not UNSHIPPED.search(text), f"{prog} --help cites {UNSHIPPED.search(text).group()}"


def test_the_study_help_says_95_percent_once():
    (study,) = [text for prog, text in _texts().items() if prog.endswith(" study")]
    assert "95 % t-interval" in " ".join(study.split())
    assert len(_texts()) >= 6  # kdlens-cli, analyze, train, demo, study, report (and kdlens)
