"""No input gives a traceback: random options and values over every subcommand end in exit 0
or one `abftsim: error:` line with exit 2 (an internal error, exit 70, fails the test).

Values are kept cheap (a tiny workload, one-trial sweeps, a few images) so each call is fast;
`--scheduler` is left out (an unreachable address waits for its 20 s connection timeout)."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import cli

TINY = str(Path(__file__).resolve().parent / "data" / "tiny_gemms.yaml")
NUMBERS = ["0", "-1", "2", "1e-9", "0.5", "nan", "inf", "1e400", "abc", "", "3"]
SKIP = {"--scheduler", "--help", "-h"}


def _files(folder: Path) -> list[str]:
    """Garbage and near-miss inputs: binary, empty, a JSON list, an alias bomb, a tampered store."""
    files = {
        "garbage.bin": b"\x00\xff\x13binary",
        "empty.yaml": b"",
        "list.json": b"[1, 2, 3]",
        "bomb.yaml": b"a: &a [x]\nb: [*a, *a]\n",
        "dup.yaml": b"name: x\nname: y\n",
        "notrace.json": b'{"traceEvents": [{"ph": "X", "tid": "q", "ts": "z"}]}',
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    sweep = folder / "s.yaml"
    sweep.write_text(f"name: s\ntrials: 1\nbase: {{workload: {TINY}, policies: [none]}}\n")
    store = folder / "tampered.db"
    assert cli.main(["sweep", str(sweep), "--db", str(store), "--workers", "1", "--quiet"]) == 0
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE trials SET results = '{\"policies\": 7}'")
    return [*(str(folder / n) for n in files), str(sweep), str(store), "/dev/null", "/nonexistent/x.yaml", "-"]


def _option_values(action: argparse.Action, files: list[str]) -> st.SearchStrategy[str]:
    if action.choices:
        return st.sampled_from([*map(str, action.choices), "bogus"])
    if action.type in (int, float):
        return st.sampled_from(NUMBERS)
    return st.sampled_from([*files, "array.rows=0", "clock_ghz=1e-3", "x=", "a,b", "0:10", "acc,flux"])


def _leaf_parsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> dict[str, argparse.ArgumentParser]:
    """Every runnable command line prefix ("run", "workload show") and its parser."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is None:
        return {" ".join(prefix): parser}
    leaves: dict[str, argparse.ArgumentParser] = {}
    for name, child in sub.choices.items():
        leaves.update(_leaf_parsers(child, (*prefix, name)))
    return leaves


def _argv(command: str, base: list[str], files: list[str]) -> st.SearchStrategy[list[str]]:
    parser = _leaf_parsers(cli.build_parser())[command]
    options = [a for a in parser._actions if a.option_strings and not set(a.option_strings) & SKIP]
    pairs = []
    for action in options:
        flag = action.option_strings[-1]
        if action.nargs == 0:
            pairs.append(st.just([flag]))
        else:
            pairs.append(_option_values(action, files).map(lambda v, f=flag: [f, v]))
    chosen = st.lists(st.one_of(*pairs), max_size=3) if pairs else st.just([])
    return chosen.map(lambda extra: [*command.split(), *base, *(x for pair in extra for x in pair)])


COMMANDS = {
    "run": ["--workload", TINY, "--policy", "none", "--quiet"],
    "list": [],
    "workload import": ["{garbage.bin}", "--out", "-"],
    "workload show": [TINY],
    "sweep": ["{s.yaml}", "--workers", "1", "--quiet"],
    "export": ["{tampered.db}", "--csv", "-"],
    "plot": ["{tampered.db}", "--kind", "pareto", "--quiet"],
    "accuracy": ["--limit", "2", "--trials", "1", "--ber", "0", "--policy", "none", "--quiet"],
    "calibrate": ["--limit", "2", "--trials", "1", "--validate-trials", "0", "--grid", "1", "--budget", "1", "--quiet"],
    "import-model": [
        "{garbage.bin}",
        "--config",
        "{garbage.bin}",
        "--calibration",
        "{garbage.bin}",
        "--out",
        "o.npz",
        "--quiet",
    ],
    "reliability": ["--workload", TINY, "--injections", "20", "--policy", "none", "--quiet"],
}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_traceback_from_random_options(command, tmp_path_factory, monkeypatch, capsys):
    folder = tmp_path_factory.mktemp(f"fuzz_{command.replace(' ', '_')}")
    monkeypatch.chdir(folder)
    files = _files(folder)
    named = {Path(f).name: f for f in files}
    base = [named.get(b.strip("{}"), b) if b.startswith("{") else b for b in COMMANDS[command]]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(argv=_argv(command, base, files))
    def check(argv: list[str]) -> None:
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: usage error, exit 2 with one line
            code = exc.code
        err = capsys.readouterr().err
        assert code in (0, 2), f"abftsim {' '.join(argv)} -> {code}: {err}"
        if code == 2:
            assert "Traceback" not in err and err.strip().count("\n") == 0, err

    check()


def test_every_subcommand_is_fuzzed():
    commands = _leaf_parsers(cli.build_parser())
    assert set(commands) == set(COMMANDS), "give a new subcommand a cheap base command line in COMMANDS"
