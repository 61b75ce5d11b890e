"""The gate fails closed: a model root that has served a model but whose model in service
cannot be read is a refusal, never "judged on thresholds alone" (issue 17).

Each case damages a root the way it was seen in the field (LATEST garbage or binary, naming a
missing version, missing beside complete versions, a version whose variables file is gone) on a
local root and on gs:// (the loopback emulator), reads it as evaluate does
(``find_in_service``) and judges a candidate that passes every threshold. Only an empty root is
a first night; a first-night bootstrap is the audited way past a damaged one.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

from components.evaluate import judge
from components.evaluate.gates import NOTHING_IN_SERVICE, FirstNight, decide_blessing
from components.evaluate.in_service import find_in_service
from components.registry.model_root import LATEST, ModelRoot
from tests.unit.push.conftest import night, push, swap_latest

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
VARIABLES = "model/serving/variables/variables.data"


@pytest.fixture
def root(registry_root):
    return registry_root


def delete(root: str, key: str) -> None:
    if root.startswith("gs://"):
        bucket, _, prefix = root[len("gs://") :].partition("/")
        client = gcs.Client(project="test-project", credentials=AnonymousCredentials())
        client.bucket(bucket).blob(f"{prefix}/{key}").delete()
    else:
        os.remove(os.path.join(root, *key.split("/")))


def garbage(root, version):
    swap_latest(root, b"<html>502 Bad Gateway</html>\n")


def binary(root, version):
    swap_latest(root, bytes(range(250, 256)) + b"\x00\xff\xfe")


def missing_version(root, version):
    swap_latest(root, b"20250101T000000Z\n")


def no_latest(root, version):
    delete(root, f"m/{LATEST}")


def no_variables(root, version):
    delete(root, f"m/{version}/{VARIABLES}")


DAMAGES = [garbage, binary, missing_version, no_latest, no_variables]


def judged(served, **options):
    problem = judge.in_service_problem(served.version, served.problem, {})
    return decide_blessing(
        {"recall@50": 0.5},
        thresholds={"recall@50": 0.1},
        compared=("recall@50",),
        tolerance=0.01,
        in_service_problem=problem,
        **options,
    )


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.__name__ for d in DAMAGES])
def test_a_damaged_model_in_service_refuses_the_candidate(root, tmp_path, damage) -> None:
    version = push(night(tmp_path / "n1", root, "night 1"), root, T0)["version"]
    damage(root, version)

    served = find_in_service(root, "m", str(tmp_path / "scratch"))

    assert served.model_dir is None and served.problem, served
    verdict = judged(served)
    assert not verdict.blessed and not verdict.gate_passed
    assert any("refused" in r and "fails closed" in r for r in verdict.reasons), verdict.reasons
    assert NOTHING_IN_SERVICE not in verdict.reasons
    # The audited bootstrap passes it, and says so.
    boot = judged(served, first_night=FirstNight(by="ana", reason="rebuilding the root"))
    assert boot.blessed and boot.first_night is not None
    assert any("FIRST-NIGHT BOOTSTRAP by ana" in r for r in boot.reasons)


def test_an_empty_root_is_a_first_night_and_a_sound_one_is_compared(root, tmp_path) -> None:
    empty = find_in_service(root, "m", str(tmp_path / "s0"))
    assert empty.problem is None and empty.version is None and empty.latest_sha256 is None
    assert judged(empty).blessed and NOTHING_IN_SERVICE in judged(empty).reasons

    version = push(night(tmp_path / "n1", root, "night 1"), root, T0)["version"]
    sound = find_in_service(root, "m", str(tmp_path / "s1"))
    assert sound.problem is None and sound.version == version
    assert sound.latest_sha256 == ModelRoot(root).latest("m").sha256
    assert os.path.isfile(os.path.join(sound.model_dir, "serving", "variables", "variables.data"))
