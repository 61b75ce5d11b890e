"""docker/: no secret is baked into an image (tests/unit/pipeline/test_dockerfiles.py already
proves both images install only from their lock and run as a non-root user made in them).

A secret reaches an image as a build argument or environment value, as a fetched file, or inside
a file the build context copies in; each path is checked here.
"""

from __future__ import annotations

import fnmatch
import pathlib
import re

import pytest

from tests.tiny_shop import REPO
from tests.unit.pipeline.test_dockerfiles import instructions

DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))
SECRET_NAME = re.compile(
    r"SECRET|PASSW|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH", re.IGNORECASE
)
SECRET_FILES = ("*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_ed25519*", ".env", ".env.*",
                "*credentials*.json", "*service*account*.json", ".netrc", ".pypirc",
                "*.keytab")  # fmt: skip
SECRET_TEXT = re.compile(
    rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"  # PEM private keys
    rb'|"type"\s*:\s*"service_account"'  # GCP service-account key files
    rb"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    rb"|\bgh[pousr]_[A-Za-z0-9]{36}\b"  # GitHub tokens
    rb"|\bAIza[0-9A-Za-z_\-]{35}\b"  # Google API keys
    rb"|\bxox[baprs]-[0-9A-Za-z-]{10,}"  # Slack tokens
)


def copied_files(dockerfile: pathlib.Path) -> list[pathlib.Path]:
    """Every file of the build context that the Dockerfile's COPY/ADD lines bring in."""
    ignored = [
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    files = []
    for keyword, args in instructions(dockerfile):
        if keyword not in {"COPY", "ADD"}:
            continue
        sources = [a for a in args.split()[:-1] if not a.startswith("--")]
        for source in sources:
            path = REPO / source
            found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for p in found:
                rel = p.relative_to(REPO).as_posix()
                if not any(
                    fnmatch.fnmatch(rel, pattern.removeprefix("**/"))
                    or any(
                        fnmatch.fnmatch(part, pattern.removeprefix("**/"))
                        for part in rel.split("/")
                    )
                    for pattern in ignored
                ):
                    files.append(p)
    return files


def test_there_are_dockerfiles() -> None:
    assert {p.name for p in DOCKERFILES} >= {"cpu.Dockerfile", "gpu.Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.stem)
def test_no_secret_in_build_args_or_environment(dockerfile: pathlib.Path) -> None:
    for keyword, args in instructions(dockerfile):
        if keyword in {"ARG", "ENV", "LABEL"}:
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_.\-]*)(?==|\s|$)", args)
            assert not [n for n in names if SECRET_NAME.search(n)], (keyword, args)
        if keyword == "RUN":
            # A secret passed to a step must be a BuildKit secret mount, never a literal.
            assert not re.search(r"(https?://[^/\s]*:[^@/\s]*@)", args), args
            assert not SECRET_TEXT.search(args.encode()), args


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.stem)
def test_nothing_is_fetched_from_the_network_into_the_image(dockerfile: pathlib.Path) -> None:
    """ADD <url> or curl/wget would bring in bytes no lock pins (and could carry a token)."""
    for keyword, args in instructions(dockerfile):
        assert not (keyword == "ADD" and re.search(r"\bhttps?://", args)), args
        assert not (keyword == "RUN" and re.search(r"\b(curl|wget)\b", args)), args


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.stem)
def test_files_copied_into_the_image_hold_no_secret(dockerfile: pathlib.Path) -> None:
    files = copied_files(dockerfile)
    assert any(p.name == "pipeline.py" for p in files)  # the walk does find the sources
    by_name = [
        p.relative_to(REPO).as_posix()
        for p in files
        if any(fnmatch.fnmatch(p.name, pattern) for pattern in SECRET_FILES)
    ]
    assert by_name == []
    by_content = [
        p.relative_to(REPO).as_posix() for p in files if SECRET_TEXT.search(p.read_bytes())
    ]
    assert by_content == []


def test_the_secret_patterns_do_catch_secrets() -> None:
    """So the scans above mean something."""
    fake_key = b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"
    assert SECRET_TEXT.search(fake_key)
    assert SECRET_TEXT.search(b'{"type": "service_account", "project_id": "p"}')
    assert SECRET_TEXT.search(b"aws_access_key_id = AKIA" + b"ABCDEFGHIJKLMNOP")
    assert SECRET_NAME.search("GITHUB_TOKEN") and SECRET_NAME.search("db_password")
    assert not SECRET_NAME.search("TF_USE_LEGACY_KERAS")
    assert any(fnmatch.fnmatch("sa-credentials.json", p) for p in SECRET_FILES)
