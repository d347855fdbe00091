"""Output paths never destroyed: devices, FIFOs and symlinks written through, `-` is stdout,
an input never overwritten, writability checked before computing, no `.tmp` left behind."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from simulator import cli
from simulator.cli.outputs import check_outputs, write_output
from simulator.errors import ConfigError

TINY = str(Path(__file__).resolve().parent / "data" / "tiny_gemms.yaml")
RUN = ["run", "--workload", TINY, "--policy", "none", "--ber", "0", "--quiet"]


def test_dash_is_stdout_for_every_output_option(capsys):
    for flag in ("--json", "--csv", "--trace"):
        assert cli.main([*RUN, flag, "-"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("{" if flag != "--csv" else "policy,name,kind"), flag


def test_dev_null_is_written_through_not_replaced(capsys):
    before = os.stat(os.devnull)
    assert cli.main([*RUN, "--json", os.devnull, "--csv", os.devnull]) == 0
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_output(fifo, "hello\n")
    reader.join(timeout=10)
    assert received == [b"hello\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_symlink_is_kept_and_its_target_written(tmp_path):
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    assert cli.main([*RUN, "--json", str(link)]) == 0
    assert link.is_symlink() and json.loads(target.read_text())["schema"] == "abftsim.report/1"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["run", "--hw", "{hw}", "--quiet", "--json", "{hw}"], "--json"),
        (["run", "--workload", "{wl}", "--quiet", "--csv", "{wl_link}"], "--csv"),
        (["export", "{db}", "--csv", "{db}"], "--csv"),
    ],
)
def test_an_output_that_is_an_input_is_refused(tmp_path, capsys, argv, flag):
    hw = tmp_path / "h.yaml"
    hw.write_text("base: edge_32x32\n")
    wl = tmp_path / "w.yaml"
    wl.write_text(Path(TINY).read_text())
    (tmp_path / "wl_link.yaml").symlink_to(wl)
    db = tmp_path / "my.db"
    db.write_bytes(b"not touched")
    names = {"hw": hw, "wl": wl, "wl_link": tmp_path / "wl_link.yaml", "db": db}
    before = {p: p.read_bytes() for p in (hw, wl, db)}
    assert cli.main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{flag} " in err and "is an input of this command" in err
    assert {p: p.read_bytes() for p in before} == before


def test_sweep_summary_that_is_the_sweep_file_is_refused(tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: s\nbase: {{workload: {TINY}, policies: [none]}}\ntrials: 1\n")
    text = sweep.read_text()
    assert cli.main(["sweep", str(sweep), "--summary-csv", str(sweep), "--workers", "1", "--quiet"]) == 2
    assert "--summary-csv" in capsys.readouterr().err and sweep.read_text() == text
    assert not (tmp_path / "s.db").exists()  # refused before the store was created


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_output_is_refused_before_computing(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    from simulator import api

    monkeypatch.setattr(api, "run", lambda *a, **k: pytest.fail("computed before checking the output"))
    assert cli.main([*RUN, "--json", str(locked / "out.json")]) == 2
    assert "--json" in capsys.readouterr().err


def test_unwritable_output_is_refused_before_computing_even_as_root(tmp_path, capsys, monkeypatch):
    from simulator import api

    monkeypatch.setattr(api, "run", lambda *a, **k: pytest.fail("computed before checking the output"))
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a folder is needed: unwritable for anyone
    assert cli.main([*RUN, "--json", str(blocker / "out.json")]) == 2
    assert "--json" in capsys.readouterr().err
    assert cli.main([*RUN, "--json", str(tmp_path)]) == 2  # a folder
    assert "is a folder" in capsys.readouterr().err


def test_a_failed_write_leaves_the_old_file_and_no_tmp(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    path.write_text("old")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ConfigError, match=r"out\.json: cannot write: No space left on device"):
        write_output(path, "new")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_check_outputs_accepts_new_paths_and_devices(tmp_path):
    check_outputs({"--json": tmp_path / "new" / "deeper" / "x.json", "--csv": os.devnull, "--trace": "-"}, ())
    assert not (tmp_path / "new").exists()  # checking creates nothing
