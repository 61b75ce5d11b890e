"""Every command line answers misuse with one line and exit 2, never a traceback (issue 17),
and its help names only options it has.

Each case was a raw traceback or a misleading line on main: an output path that is a file, a
missing ``report --evaluation``, an unreachable ``schedule`` host, an unknown ``train
--modalities`` value, a mistyped input directory read as "the ingest step did not finish", help
texts naming ``--data`` in train. The CLIs run in-process with their real stages.
"""

from __future__ import annotations

import importlib
import re
import socket

import pytest

from tests.tiny_shop import TINY

CLIS = ["ingest", "transform", "train", "evaluate", "push", "report", "schedule"]
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def run_cli(name: str, *args: str) -> int:
    return importlib.import_module(f"components.{name}.__main__").main(list(args))


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [
        line
        for line in err.strip().splitlines()
        if not re.match(r"^\d{4}-\d\d-\d\d |^[IWE]\d{4}", line)
    ]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_ingest_into_an_output_path_that_is_a_file(tmp_path, capsys) -> None:
    (tmp_path / "out").write_text("not a directory")
    assert run_cli("ingest", "--input", str(TINY), "--out", str(tmp_path / "out"), "--quiet") == 2
    line = one_line(capsys)
    assert line.startswith(f"ingest failed: cannot write {tmp_path / 'out'}")


def test_report_without_its_evaluation(tmp_path, capsys, tiny_data) -> None:
    code = run_cli("report", "--data", str(tiny_data), "--evaluation", str(tmp_path / "ev"),
                   "--out", str(tmp_path / "r.md"))  # fmt: skip
    assert code == 2
    assert one_line(capsys) == f"report: --evaluation {tmp_path / 'ev'}: no such directory"


def test_train_with_an_unknown_modality_is_a_usage_error(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        run_cli("train", "--examples", "x", "--transform-graph", "y", "--model", "m",
                "--modalities", "text,imgae")  # fmt: skip
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown modality 'imgae'" in err and "Traceback" not in err


def test_a_mistyped_input_directory_is_named_missing(tmp_path, capsys) -> None:
    code = run_cli("train", "--examples", str(tmp_path / "exampels"), "--transform-graph",
                   str(tmp_path / "graph"), "--model", str(tmp_path / "m"))  # fmt: skip
    assert code == 2
    line = one_line(capsys)
    assert "exampels: does not exist" in line and "did not finish" not in line


def test_schedule_against_an_unreachable_host(tmp_path, capsys) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    package = tmp_path / "p.yaml"
    package.write_text("{}")
    host = f"http://127.0.0.1:{port}"
    assert run_cli("schedule", "--host", host, "--package", str(package)) == 2
    assert one_line(capsys).startswith(f"schedule: cannot reach the KFP host {host} (")


@pytest.mark.parametrize("name", CLIS)
def test_help_names_only_options_that_exist(name, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "10000")  # no option name wrapped at its hyphen
    subcommands = ["push", "keep", "list", "rollback"] if name == "push" else [None]
    mentioned, defined = set(), set()
    for sub in subcommands:
        with pytest.raises(SystemExit):
            run_cli(name, *([sub] if sub else []), "--help")
        text = capsys.readouterr().out
        usage = text.split("\n\n", 1)[0]  # every option the parser has is in its usage line
        defined |= set(OPTION.findall(usage)) | {"--help"}
        mentioned |= set(OPTION.findall(text))
    assert len(defined) > 1, text
    assert mentioned - defined == set()
