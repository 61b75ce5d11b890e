import pytest

from components.ingest.__main__ import main


def test_help_prints_every_option(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "the last 12.5% of train events" in " ".join(capsys.readouterr().out.split())
