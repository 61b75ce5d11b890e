"""The registry digest names the model, not the run that wrote it (issue 17).

Two nights with nothing changed differ in ``saved_model.pb`` bytes, the fingerprint's UUID and
checksum, logs, timings and the train manifest's facts; the digest must not see any of it (or
an unchanged night is pushed as a new version), and must see a change of weights, assets or
training settings. A copy of the tiny model is changed one way at a time.
"""

from __future__ import annotations

import json
import shutil

import pytest
from tensorflow.core.protobuf import fingerprint_pb2

from components.registry.digest import FINGERPRINT, model_digest
from components.registry.model_root import tree_digest

pytestmark = pytest.mark.slow


def rewrite_fingerprint(model, **fields) -> None:
    path = model / FINGERPRINT
    proto = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    for name, value in fields.items():
        setattr(proto, name, value)
    path.write_bytes(proto.SerializeToString())


def run_noise(model) -> None:
    """What another run of the same training changes."""
    rewrite_fingerprint(model, uuid="another-run", saved_model_checksum=12345)
    graph = model / "serving" / "saved_model.pb"
    graph.write_bytes(graph.read_bytes() + b"\n")  # run-specific function names, here bytes
    (model / "logs").mkdir(exist_ok=True)
    (model / "logs" / "events.out").write_bytes(b"another run")
    (model / "history.json").write_text("{}")
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["total_seconds"] = 1e9
    (model / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def model(tiny_model, tmp_path):
    return shutil.copytree(tiny_model, tmp_path / "model")


def test_another_run_of_the_same_model_has_the_same_digest(model) -> None:
    before, tree_before = model_digest(str(model)), tree_digest(str(model))
    run_noise(model)
    assert model_digest(str(model)) == before
    assert tree_digest(str(model)) != tree_before  # what push compared on main


def test_weights_program_or_settings_change_the_digest(model) -> None:
    before = model_digest(str(model))
    variables = next((model / "serving" / "variables").glob("*.data-*"))
    data = bytearray(variables.read_bytes())
    data[-1] ^= 1
    variables.write_bytes(bytes(data))
    weights = model_digest(str(model))
    rewrite_fingerprint(model, signature_def_hash=7)
    program = model_digest(str(model))
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["config"] = {**manifest.get("config", {}), "epochs": 99}
    (model / "manifest.json").write_text(json.dumps(manifest))
    settings = model_digest(str(model))
    assert len({before, weights, program, settings}) == 4
