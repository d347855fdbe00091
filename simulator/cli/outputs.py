"""Output files of the CLI: checked before any computing, never destroying what is at the path.

Rules: `-` is stdout; a character device, FIFO or socket is written through (never replaced); a
symlink is followed and its target written; a regular file (or a new path) is written through a
temporary file renamed over it, so a failed write leaves the old file and no `.tmp`. An output
that is one of the command's inputs (same file after resolving links) is refused.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

from simulator.errors import ConfigError

STDOUT = "-"
GZIP_LEVEL = 3  # streamed .gz outputs: fast; trace JSON is repetitive, so level 3 is close to 9


def check_outputs(outputs: Mapping[str, str | os.PathLike | None], inputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse, before any work, an output (flag -> path) that is an input or cannot be written."""
    input_ids = {_file_id(p) for p in inputs if p is not None} - {None}
    for flag, target in outputs.items():
        if target is None or str(target) == STDOUT:
            continue
        path = Path(target)
        if _file_id(path) in input_ids:
            raise ConfigError(f"{flag} {path}: is an input of this command; choose another output path")
        _check_writable(flag, path)


def check_output_dir(flag: str, directory: str | os.PathLike) -> None:
    """An output folder exists and is writable, or can be created."""
    _check_writable(flag, Path(directory) / ".probe", what="folder")


def write_output(target: str | os.PathLike, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes to `target` by the rules in the module docstring."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    _write(target, lambda fh: fh.write(payload))


def write_text_stream(target: str | os.PathLike, chunks: Iterable[str], compress: bool = False) -> None:
    """Stream text pieces (UTF-8, gzip-compressed if `compress`) to `target` by the same rules."""

    def write(fh: BinaryIO) -> None:
        if not compress:
            for chunk in chunks:
                fh.write(chunk.encode("utf-8"))
            return
        with gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as sink:  # fh stays open
            for chunk in chunks:
                sink.write(chunk.encode("utf-8"))

    _write(target, write)


def _write(target: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    if str(target) == STDOUT:
        sys.stdout.flush()
        write(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    path = Path(os.path.realpath(target))  # a symlink's target is written, the link kept
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{target}: is a folder, not a file")
        try:
            with open(path, "wb") as fh:  # device, FIFO, socket: write through, never replace
                write(fh)
        except OSError as exc:
            raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from None
        return
    _write_atomic(path, write, str(target))


def _write_atomic(path: Path, write: Callable[[BinaryIO], object], shown: str) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp would leave it 0600
            write(fh)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _check_writable(flag: str, path: Path, what: str = "file") -> None:
    real = Path(os.path.realpath(path))
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ConfigError(f"{flag} {path}: is a folder, not a {what}")
    if mode is not None and not stat.S_ISREG(mode):
        if not os.access(real, os.W_OK):
            raise ConfigError(f"{flag} {path}: cannot write: permission denied")
        return  # a device or FIFO is written through; opening a FIFO now would block
    parent = real.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: {parent} is not a folder")
    if mode is not None and not os.access(real, os.W_OK):
        raise ConfigError(f"{flag} {path}: cannot write: permission denied")
    try:  # the rename needs the folder writable; probe it (read-only media, permissions, quotas)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".abftsim-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write in {parent}: {exc.strerror or exc}") from None


def _file_id(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of an existing file after following links, else None."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
