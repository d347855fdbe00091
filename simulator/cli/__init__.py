"""Command line `abftsim`: the only package that prints, writes files or sets exit codes.

Each subcommand group is one module of this package that defines `register(sub)` (adds its
parsers to the argparse sub-parser collection and sets `handler` on each) and `ORDER` (its place
in `--help`). Modules are found by name, so adding a subcommand is adding one file here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType

from simulator.cli.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, Parser, error_line
from simulator.errors import ConfigError
from simulator.executors import tune_simulation_process

_NOT_COMMANDS = frozenset({"common", "outputs", "parquet", "tables", "__main__"})


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C; exit status 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def command_modules() -> list[ModuleType]:
    """Every subcommand module of this package, in `ORDER`."""
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if info.name not in _NOT_COMMANDS
    ]
    return sorted((m for m in modules if hasattr(m, "register")), key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="abftsim", description="Systolic-array ABFT simulator for ViT GEMM workloads.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in command_modules():
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdout is None:  # started with stdout closed (`abftsim run >&-`): what it would show is discarded
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    args = build_parser().parse_args(argv)
    tune_simulation_process()
    load_numba_array_math_without_blas_probe()
    try:
        with _signals_as_interrupts():
            return args.handler(args)
    except ConfigError as exc:
        _say(f"abftsim: error: {error_line(exc)}")
        return EXIT_BAD_INPUT
    except Terminated as exc:
        _say(f"abftsim: stopped by signal {signal.Signals(exc.signum).name}")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _say("abftsim: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed by the reader (`abftsim run | head`): not an error of ours
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_OK_PIPE
    except MemoryError:
        _say("abftsim: error: out of memory; reduce the workload, the BER or the trial count")
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug, not bad input: still one line (ABFTSIM_DEBUG=1 shows the traceback)
        if os.environ.get("ABFTSIM_DEBUG"):
            raise
        _say(f"abftsim: internal error: {type(exc).__name__}: {exc} (please report it; ABFTSIM_DEBUG=1 shows where)")
        return EXIT_INTERNAL


EXIT_INTERNAL = 70  # EX_SOFTWARE of sysexits.h

_BLAS_PROBE_PACKAGE = "scipy.linalg"
_NUMBA_ARRAY_MATH = "numba.np.arraymath"


def load_numba_array_math_without_blas_probe() -> None:
    """Load numba's array-math support (what its CPU target loads before the first kernel runs)
    with scipy.linalg hidden for the duration of that one import.

    numba.np.arraymath imports scipy.linalg.cython_blas at import time only to record whether
    np.dot & co. could be compiled: about 0.3 s of CPU per process, a sixth of the default run's
    2 s budget, whenever scipy is installed (a test dependency here). abftsim's kernels use no BLAS
    and scipy is not a runtime dependency, so the CLI lets numba find no BLAS (as without scipy)
    and restores sys.modules at once: scipy.linalg stays importable. A no-op when numba's array
    math or scipy.linalg is already loaded (in-process callers, worker processes)."""
    if _NUMBA_ARRAY_MATH in sys.modules or _BLAS_PROBE_PACKAGE in sys.modules:
        return
    sys.modules[_BLAS_PROBE_PACKAGE] = None  # type: ignore[assignment]  # None: `import` raises ImportError
    try:
        importlib.import_module(_NUMBA_ARRAY_MATH)
    finally:
        if sys.modules.get(_BLAS_PROBE_PACKAGE, False) is None:
            del sys.modules[_BLAS_PROBE_PACKAGE]


EXIT_OK_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr)


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated (a KeyboardInterrupt) in the main thread while a command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        # the next one acts at once: a command stuck in a long native call (a numba kernel) that
        # cannot reach Python to unwind still stops on a second SIGTERM
        signal.signal(signum, signal.SIG_DFL)
        raise Terminated(signum)

    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {s: signal.signal(s, interrupt) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
