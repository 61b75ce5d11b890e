"""The analyst page of a tiny run, opened in a real headless Chromium.

Evaluate and the report CLI run on the session's tiny shop and model (``tiny_model``); the
report writes the page; Chromium renders it (screenshot) and dumps its DOM, with a net log of
every request it made. The page must show every section and make no network request: each
request the browser made on the page's behalf (its network isolation key is the file:// page)
is listed, and none may be http(s)/ws(s). Chromium's own background traffic (time sync,
accounts) is attributed to other keys and ignored; a control page with one remote image proves
the check catches one.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
from PIL import Image

from components.report.html import SECTIONS
from tests.tiny_shop import stage

CHROMIUM = "/usr/bin/chromium"
NETWORK_SCHEMES = ("http:", "https:", "ws:", "wss:", "ftp:")
WIDTH, HEIGHT = 1280, 12000

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} is absent: install the Debian package (apt-get install -y chromium)",
)


def chromium(page, work, *mode):
    """Run headless Chromium on ``page`` with a fresh profile; returns (stdout, net log)."""
    profile, netlog = work / "profile", work / "netlog.json"
    shutil.rmtree(profile, ignore_errors=True)
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
         f"--window-size={WIDTH},{HEIGHT}", f"--log-net-log={netlog}",
         "--net-log-capture-mode=Everything", *mode, page.as_uri()],
        capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip
    return out.stdout, json.loads(netlog.read_text())


def page_requests(netlog):
    """URLs the browser requested on behalf of a file:// page (its network isolation key)."""
    names = {v: k for k, v in netlog["constants"]["logEventTypes"].items()}
    urls = []
    for event in netlog["events"]:
        params = event.get("params", {})
        if names[event["type"]] == "URL_REQUEST_START_JOB" and (
            params.get("network_isolation_key", "").startswith("file://")
            or params.get("initiator") in ("null", "file://")
        ):
            urls.append(params["url"])
    return urls


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_examples, tiny_model):
    work = tmp_path_factory.mktemp("report")
    data, examples = tiny_examples["data"], tiny_examples["examples"]
    evaluation = work / "evaluation"
    stage("components.evaluate", "--data", str(data), "--examples", str(examples),
          "--model", str(tiny_model), "--model-root", str(work / "root"), "--out", str(evaluation),
          "--no-beat-peers")  # fmt: skip
    html, md = work / "report" / "page.html", work / "report" / "summary.md"
    stage("components.report", "--data", str(data), "--evaluation", str(evaluation),
          "--out", str(md), "--examples", str(examples), "--model", str(tiny_model),
          "--html", str(html))  # fmt: skip
    return {"work": work, "html": html, "md": md}


@pytest.mark.slow
def test_the_page_renders_every_section_in_chromium_without_any_network_request(run):
    work = run["work"]
    dom, netlog = chromium(run["html"], work, "--dump-dom")
    for sid, title in SECTIONS:
        assert re.search(rf'<section id="{sid}"><h2>{title}</h2>', dom), sid
    # The parts each section promises, as the browser parsed them.
    for text in ("Quarantined rows by reason", "Completeness and diversity",
                 "Time range and split cut-offs", "Item popularity", "loss curves",
                 "Metrics with baselines", "Gate decision and reasons", "Slices",
                 "Against the model in service", "Personas", "Recent history",
                 "Top 10 recommendations", "leans on", "suppressed (&lt;10 users)"):  # fmt: skip
        assert text in dom, text
    charts = re.findall(r'<img class="chart" src="data:image/png;base64,', dom)
    assert len(charts) >= 7  # quarantine, timeline, popularity, losses, metrics, recall, map
    users = re.findall(r'<div class="user"><b>user (u\d+)</b>', dom)
    assert len(users) >= 3 and len(set(users)) == len(users)
    rows = re.findall(r'<span class="mod m-(\w+)">', dom)
    assert len(rows) == 10 * len(users)
    assert set(rows) <= {"id", "profile", "text", "image", "behavior", "relation", "none"}
    assert [u for u in page_requests(netlog) if u.startswith(NETWORK_SCHEMES)] == []

    shot = work / "page.png"
    chromium(run["html"], work, f"--screenshot={shot}")
    with Image.open(shot) as img:
        assert img.size == (WIDTH, HEIGHT)
        # A rendered page, not a blank or error page: many colours (charts, thumbnails).
        assert len(img.convert("RGB").resize((320, 3000)).getcolors(1 << 20)) > 500
    print(f"screenshot: {shot}")


@pytest.mark.slow
def test_the_network_check_catches_a_page_that_loads_a_remote_image(tmp_path):
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><img src="http://127.0.0.1:9/remote.png"><p>x</p>')
    _, netlog = chromium(page, tmp_path, "--dump-dom")
    assert "http://127.0.0.1:9/remote.png" in page_requests(netlog)


@pytest.mark.slow
def test_the_markdown_summary_has_the_headline_and_the_personas(run):
    text = run["md"].read_text()
    assert "## Quality" in text and "## Gate" in text and "## Training" in text
    assert "## Users (clusters of at least 10 users described)" in text
