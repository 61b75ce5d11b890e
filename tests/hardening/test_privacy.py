"""No raw user id, key or planted PII survives ingest + transform with a pseudonymization key.

The tiny sample gets planted users (long ids that cannot collide with random text), their
events, follows and reviews holding emails, phone numbers and URLs, an event of an unknown
planted user and a truncated JSONL line with a planted id (both quarantined). Ingest runs with a
key file, transform on its output; then every file under both output directories (Parquet
decoded, gzip decompressed, the rest as bytes) and both processes' stdout and stderr are searched
for every raw user id of the input (as a whole token), the key and the planted PII.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from components.ingest import layout, privacy
from schemas import tables as cols
from tests.tiny_shop import NOW, REPO, TINY

PLANTED = [f"planted-user-{i:03d}-7c1e9a4f" for i in range(4)]
GHOST = "planted-ghost-5d2b80e3"  # in events only: quarantined as unknown_user
TRUNCATED = "planted-truncated-0f9c6a71"  # only inside a line that does not parse
EMAIL = "planted.person@example-mail.com"
PHONES = ("+1 415-555-0199", "(212) 555-0147")
URL = "https://planted.example.net/my-profile?id=123"
QUERY_URL = "www.planted-query.example.org/find"
PII = (EMAIL, *PHONES, "555-0199", "555-0147", "planted.example.net", "planted-query.example")

pytestmark = pytest.mark.slow


def when(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 1, 1, hour, tzinfo=dt.UTC) + dt.timedelta(days=day)


def plant(raw: pathlib.Path) -> None:
    """Add the planted rows to a copy of the tiny sample."""

    def append(table: str, rows: list[dict]) -> None:
        path = raw / table / "part-00000.parquet"
        old = pq.read_table(path)
        pq.write_table(pa.concat_tables([old, pa.Table.from_pylist(rows, schema=old.schema)]), path)

    items = pq.read_table(raw / "items" / "part-00000.parquet")[cols.ITEM_ID].to_pylist()[:5]
    old_user = pq.read_table(raw / "users" / "part-00000.parquet")[cols.USER_ID][5].as_py()
    append(
        "users",
        [{cols.USER_ID: u, cols.SIGNUP_TS: when(-200), cols.COUNTRY: "DE"} for u in PLANTED],
    )
    events = [
        {
            cols.USER_ID: u,
            cols.ITEM_ID: items[(i + d) % 5],
            cols.EVENT_TYPE: "view",
            cols.TS: when(10 + 9 * d + i),
            cols.DWELL_S: 5.0,
            cols.QUERY: f"gift ideas {QUERY_URL}" if d == 0 else None,
        }
        for i, u in enumerate(PLANTED)
        for d in range(12)
    ]
    events.append({**events[0], cols.USER_ID: GHOST, cols.TS: when(30)})
    append("events", events)
    texts = [
        f"Great! Mail me at {EMAIL} for a swap",
        f"call {PHONES[0]} or {PHONES[1]} after 6pm, it cost $1,299.99 on 2024-02-03",
        f"my unboxing video: {URL} rated 5/5",
        f"order #123456789 fine, contact {EMAIL}",
    ]
    append(
        "reviews",
        [
            {
                cols.USER_ID: u,
                cols.ITEM_ID: items[i],
                cols.RATING: 4.0,
                cols.TEXT: texts[i],
                cols.TS: when(20 + 25 * i),
            }
            for i, u in enumerate(PLANTED)
        ],
    )
    append(
        "user_relations",
        [
            {cols.SRC_USER: PLANTED[0], cols.DST_USER: PLANTED[1], cols.KIND: "follow"},
            {cols.SRC_USER: PLANTED[2], cols.DST_USER: old_user, cols.KIND: "trust"},
            {cols.SRC_USER: old_user, cols.DST_USER: PLANTED[3], cols.KIND: "follow"},
        ],
    )
    # A second events file in JSONL: one line that does not parse, one duplicate of a valid row.
    row = {**events[1], cols.TS: events[1][cols.TS].isoformat()}
    (raw / "events" / "part-00001.jsonl").write_text(
        f'{{"user_id": "{TRUNCATED}", "item_id": "{items[0]}", "event_ty\n' + json.dumps(row) + "\n"
    )


def raw_user_ids(raw: pathlib.Path) -> set[str]:
    ids: set[str] = {GHOST, TRUNCATED}
    for table, columns in (
        ("users", [cols.USER_ID]),
        ("events", [cols.USER_ID]),
        ("reviews", [cols.USER_ID]),
        ("user_relations", [cols.SRC_USER, cols.DST_USER]),
    ):
        data = pq.read_table(raw / table / "part-00000.parquet")
        for column in columns:
            ids |= {v for v in data[column].to_pylist() if v and v.strip()}
    return ids


def contents(root: pathlib.Path) -> dict[str, bytes]:
    """Every file under ``root`` as searchable bytes (Parquet decoded, gzip decompressed)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
            data += json.dumps(rows, default=str, ensure_ascii=False).encode()
        elif path.suffix == ".gz":
            data += gzip.decompress(data)
        out[path.relative_to(root).as_posix()] = data
    return out


def token_pattern(words: set[str]) -> re.Pattern[bytes]:
    alternatives = b"|".join(re.escape(w.encode()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rb"(?<![A-Za-z0-9_-])(?:" + alternatives + rb")(?![A-Za-z0-9_-])")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_no_raw_id_key_or_pii_in_ingest_and_transform_outputs_or_logs(tmp_path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(TINY, raw, ignore=shutil.ignore_patterns("_truth", "_meta.json"))
    plant(raw)
    secret = secrets.token_hex(32)
    key_file = tmp_path / "secrets" / "pseudonym.key"
    key_file.parent.mkdir()
    key_file.write_text(secret + "\n")
    env = {k: v for k, v in os.environ.items() if k not in (privacy.KEY_ENV, privacy.KEY_FILE_ENV)}
    env[privacy.KEY_FILE_ENV] = str(key_file)
    data, examples, graph = tmp_path / "data", tmp_path / "examples", tmp_path / "graph"
    logs = [
        run("components.ingest", "--input", str(raw), "--out", str(data), "--now", NOW, env=env)
    ]
    logs.append(
        run(
            "components.transform",
            "--data",
            str(data),
            "--examples",
            str(examples),
            "--transform-graph",
            str(graph),
            env=env,
        )
    )

    ids = raw_user_ids(raw)
    assert set(PLANTED) <= ids and len(ids) > 300
    pattern = token_pattern(ids)
    # The search finds what it looks for: every planted id and all PII are in the input.
    found_in_raw = set()
    for blob in contents(raw).values():
        found_in_raw |= {m.decode() for m in pattern.findall(blob)}
    assert set(PLANTED) | {GHOST, TRUNCATED} <= found_in_raw

    outputs = {f"data/{k}": v for k, v in contents(data).items()}
    outputs |= {f"examples/{k}": v for k, v in contents(examples).items()}
    outputs |= {f"graph/{k}": v for k, v in contents(graph).items()}
    for i, done in enumerate(logs):
        outputs[f"stdout {i}"] = done.stdout.encode()
        outputs[f"stderr {i}"] = done.stderr.encode()
    assert len(outputs) > 20
    leaks = {
        name: sorted({m.decode() for m in pattern.findall(blob)})[:5]
        for name, blob in outputs.items()
        if pattern.search(blob)
    }
    assert leaks == {}
    for needle in (secret, *PII):
        assert [n for n, blob in outputs.items() if needle.encode() in blob] == [], needle

    manifest = json.loads((data / layout.MANIFEST).read_text())
    assert manifest["pseudonymized"] is True
    assert manifest["scrubbed"]["reviews.text"] == {"url": 1, "email": 2, "phone": 1}
    assert manifest["scrubbed"]["events.query"]["url"] == 4
    for name, t in manifest["tables"].items():
        assert t["valid"] + t["quarantined"] == t["read"], name
    events = manifest["tables"][cols.EVENTS.name]
    assert events["read"] == 3000 + 4 * 12 + 1 + 2
    assert events["by_reason"]["malformed"] == 1
    # Not vacuous: the planted users are in both outputs, under their pseudonyms.
    pseudonyms = privacy.pseudonymize(PLANTED, secret).to_pylist()
    users = layout.read_table(data, cols.USERS.name, layout.ALL)[cols.USER_ID].to_pylist()
    assert set(pseudonyms) <= set(users)
    transformed = b"".join(v for k, v in outputs.items() if k.startswith("examples/"))
    assert all(p.encode() in transformed for p in pseudonyms)
    reviews = pa.concat_tables(
        layout.read_table(data, cols.REVIEWS.name, s) for s in layout.splits_of(cols.REVIEWS.name)
    )
    texts = reviews.filter(pc.is_in(reviews[cols.USER_ID], pa.array(pseudonyms)))
    assert sorted(texts[cols.TEXT].to_pylist()) == sorted(
        [
            "Great! Mail me at <email> for a swap",
            "call <phone> or <phone> after 6pm, it cost $1,299.99 on 2024-02-03",
            "my unboxing video: <url> rated 5/5",
            "order #123456789 fine, contact <email>",
        ]
    )
