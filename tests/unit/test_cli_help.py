"""Every command's ``--help`` prints its usage and exits 0 (a stray ``%`` in a help text once
made ``ingest --help`` crash with a TypeError)."""

import importlib
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pytest

COMMANDS = [
    "components.ingest.__main__",
    "components.transform.__main__",
    "components.train.__main__",
    "components.evaluate.__main__",
    "components.push.__main__",
    "components.report.__main__",
    "components.schedule.__main__",
    "components.sources.adapt",
    "pipeline",
]


@pytest.mark.parametrize("module", COMMANDS)
def test_help_prints_usage_and_exits_zero(module, capsys):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out
