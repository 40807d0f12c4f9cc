"""Every command and subcommand answers ``--help``, and the README mentions each one.

The commands are found by walking the real argparse tree, so a new command
without help or without a line in the README fails here.
"""

from __future__ import annotations

import argparse

import pytest

from pipelines.cli.main import build_parser, main
from pipelines.cli.payable import SUB

from .conftest import REPO


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [path]
    found: list[tuple[str, ...]] = []
    for action in subs:
        for name, child in action.choices.items():
            found += _commands(child, (*path, name))
    return found


COMMANDS = _commands(build_parser())
COMMANDS += [("payout", s) for s in SUB]  # payout's forms parse their own arguments


def test_the_walk_finds_the_commands() -> None:
    assert {("ingest",), ("verify",), ("ledger", "sign"), ("usage", "record"), ("payout", "verify")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_help_works(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: datanet " + " ".join(command)), out[:200]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_readme_mentions_it(command: tuple[str, ...]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"datanet {' '.join(command)}" in readme, f"README.md never shows `datanet {' '.join(command)}`"
