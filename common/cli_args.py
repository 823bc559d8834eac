"""What the three commands share in parsing: one-line usage errors and exit code 1."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, with docker's exit code 1."""

    def error(self, message: str) -> NoReturn:
        program = self.prog.split()[0]
        sys.stderr.write(f"{program}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(1)


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(1)
