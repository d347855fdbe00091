"""What every subcommand shares: the argument parser class, exit codes, shared options and the progress bar."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import NoReturn

from simulator.config.loader import DEFAULT_HW
from simulator.errors import ConfigError

EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130

# the CLI spelling of library arguments and configuration keys named by ConfigError.argument
FLAG_OF_ARGUMENT = {
    "overrides": "--set",
    "policies": "--policy",
    "policy": "--policy",
    "workers": "--workers",
    "scheduler": "--scheduler",
    "trials": "--trials",
    "point": "--point",
    "confidence": "--confidence",
    "cycles": "--cycles",
    "trace_cycles": "--trace-cycles",
    "batch": "--batch",
    "dims": "--dim",
}


def error_line(exc: ConfigError) -> str:
    """The one line the CLI prints for a library error, with arguments spelt as flags."""
    flag = FLAG_OF_ARGUMENT.get(exc.argument or "")
    return f"{flag}: {exc.detail}" if flag else str(exc)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_hw_options(parser: argparse.ArgumentParser) -> None:
    """--hw and repeatable --set KEY=VALUE."""
    parser.add_argument("--hw", default=DEFAULT_HW, help=f"bundled name or YAML path (default {DEFAULT_HW})")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hardware key by its dotted path, e.g. --set array.rows=64 (repeatable)",
    )


def parse_cycles(text: str | None, argument: str = "cycles") -> tuple[float, float] | None:
    """A START:END cycle window (either end may be left out), None without one."""
    if text is None:
        return None
    start, sep, end = text.partition(":")
    try:
        window = (float(start) if start else 0.0, float(end) if end else float("inf"))
    except ValueError:
        raise ConfigError(f"{text}: expected START:END in cycles", argument=argument) from None
    if not sep or window[1] <= window[0] or window[0] < 0:
        raise ConfigError(f"{text}: expected START:END with 0 <= START < END", argument=argument)
    return window


@contextlib.contextmanager
def progress_bar(total: int | None, unit: str, quiet: bool):
    """A tqdm bar on stderr, or a silent stand-in when quiet or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield _NoBar()
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, file=sys.stderr, leave=False) as bar:
        yield bar


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


def announce_kernel_compile(quiet: bool) -> None:
    """Say on stderr why the first run is slow (numba compiles its kernels once, then caches them)."""
    if quiet:
        return
    from simulator.kernels.cache_state import kernels_need_compiling

    if kernels_need_compiling():
        print("abftsim: compiling kernels, first run only (about 15 s)", file=sys.stderr)
