"""What every command group's parser shares: the parser class and the argument types."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    # what ``add_subparsers`` returns; each group's ``register`` adds its parsers to it
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

MAX_USERS = 100_000  # sandbox people a world is built for
MAX_DAYS = 3_650  # days of sandbox data or demo partitions
FAULTS_HELP = ("rehearse partner failures: install a sandbox-bank fault plan (a JSON file, e.g. "
               "docs/fault_plans/example.json; every-kind[:SEED]; or none to clear one)")


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def count(most: int) -> Callable[[str], int]:
    """A whole number from 1 to ``most``."""
    def parse(text: str) -> int:
        value = positive(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"{text} is too many: at most {most:,}")
        return value
    return parse


def fraction(text: str) -> float:
    """A number from 0 to 1 (no nan, no infinity)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1, e.g. 0.6")
    return value


def tcp_port(text: str) -> int:
    value = positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")
    return value


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line (argparse's usage block would bury it), exit status 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")
