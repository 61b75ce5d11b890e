"""Privacy at ingest: keyed pseudonyms, the key's handling, PII scrubbing, quarantine redaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from components.ingest import job, layout, privacy
from components.ingest.privacy import PrivacyConfigError, PseudonymKey
from components.ingest.quarantine import QUARANTINE_SCHEMA
from schemas import tables as cols
from tests.tiny_shop import REPO

from .ingest_rows import config, ts, write_shop

SECRET = "k3y-0123456789abcdef-not-for-production"
KEY = PseudonymKey(SECRET.encode())
PSEUDONYM = re.compile(r"u_[0-9a-f]{20}")


# --- pseudonyms --------------------------------------------------------------------------------


def test_pseudonym_is_hmac_sha256_of_the_id_under_a_derived_subkey() -> None:
    subkey = hmac.new(SECRET.encode(), b"shoprec/user_id/v1", hashlib.sha256).digest()
    expected = "u_" + hmac.new(subkey, b"u1", hashlib.sha256).hexdigest()[:20]
    assert privacy.pseudonymize(["u1"], KEY).to_pylist() == [expected]


def test_same_key_same_pseudonyms_other_key_others_nulls_kept() -> None:
    ids = ["u1", "u2", None, "u1", "ü-ßé"]
    first = privacy.pseudonymize(ids, KEY).to_pylist()
    again = privacy.pseudonymize(pa.chunked_array([ids[:2], ids[2:]]), SECRET).to_pylist()
    other = privacy.pseudonymize(ids, PseudonymKey(b"another key of 32 bytes........")).to_pylist()
    assert first == again
    assert first[2] is None and first[0] == first[3] and len({first[0], first[1], first[4]}) == 3
    assert all(PSEUDONYM.fullmatch(p) for p in first if p)
    assert not {p for p in first if p} & {p for p in other if p}


def test_pseudonymize_of_a_batch_equals_one_by_one() -> None:
    ids = [f"user-{i % 7}" for i in range(50)]
    batch = privacy.pseudonymize(pa.array(ids), KEY).to_pylist()
    assert batch == [privacy.pseudonymize([i], KEY)[0].as_py() for i in ids]


def test_pseudonyms_remember_ids_and_agree_with_pseudonymize() -> None:
    memory = privacy.Pseudonyms(KEY)
    batches = [["a1", "b2", None, "a1"], ["b2", "c3"], ["c3", "a1"], [None]]
    for batch in batches:
        got = memory(pa.chunked_array([pa.array(batch, pa.string())]))
        assert got.to_pylist() == privacy.pseudonymize(batch, KEY).to_pylist()
    assert repr(memory) == "Pseudonyms(3 ids)"


def test_pseudonyms_survive_a_hash_collision() -> None:
    memory = privacy.Pseudonyms(KEY)
    memory(pa.array(["a1", "b2"]))
    # Plant a wrong entry under b2's hash: the raw-id check must refuse it.
    memory._names = pa.array(["u_wrong", "u_wrong"])
    memory._raw = pa.array(["zz", "zz"])
    got = memory(pa.array(["b2", None, "a1"])).to_pylist()
    assert got == privacy.pseudonymize(["b2", None, "a1"], KEY).to_pylist()


# --- the key -----------------------------------------------------------------------------------


def test_key_never_shows_in_repr_str_or_config() -> None:
    cfg = config(pseudonym_key=KEY)
    for text in (repr(KEY), str(KEY), repr(cfg), str(cfg)):
        assert SECRET not in text
        assert SECRET.encode().hex() not in text


def test_short_key_is_refused_without_showing_it() -> None:
    with pytest.raises(PrivacyConfigError, match="at least 16") as err:
        PseudonymKey(b"shortsecret", source="SHOPREC_PSEUDONYM_KEY")
    assert "shortsecret" not in str(err.value)


def test_load_key_order_flag_then_file_env_then_env(tmp_path) -> None:
    flag, mounted = tmp_path / "flag.key", tmp_path / "mounted.key"
    flag.write_text("flag-secret-0123456789abcdef\n")
    mounted.write_text("  mounted-secret-0123456789abcdef  \n")
    env = {privacy.KEY_FILE_ENV: str(mounted), privacy.KEY_ENV: "env-secret-0123456789abcdef"}
    assert privacy.load_key(env, key_file=str(flag)).secret == b"flag-secret-0123456789abcdef"
    assert privacy.load_key(env).secret == b"mounted-secret-0123456789abcdef"
    only_env = {privacy.KEY_ENV: "env-secret-0123456789abcdef"}
    assert privacy.load_key(only_env).secret == b"env-secret-0123456789abcdef"
    assert privacy.load_key({}) is None
    assert privacy.load_key({privacy.KEY_ENV: "", privacy.KEY_FILE_ENV: ""}) is None


def test_missing_key_file_names_the_file(tmp_path) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(PrivacyConfigError, match=re.escape(str(missing))):
        privacy.load_key({privacy.KEY_FILE_ENV: str(missing)})


# --- scrubbing ---------------------------------------------------------------------------------

TRUE_POSITIVES = [
    ("mail me at jane.doe+shop@example.co.uk please", "mail me at <email> please", "email"),
    ("JOHN_SMITH@Mail.COM", "<email>", "email"),
    ("see https://evil.example.com/x?a=1&b=2.", "see <url>.", "url"),
    ("(www.shop-deals.net/promo)", "(<url>)", "url"),
    ("HTTP://Example.org", "<url>", "url"),
    ("call +1 555-123-4567 now", "call <phone> now", "phone"),
    ("+44 20 7946 0958", "<phone>", "phone"),
    ("+49 (30) 1234567", "<phone>", "phone"),
    ("ring 555-123-4567 or 555.123.4567", "ring <phone> or <phone>", "phone"),
    ("(555) 123-4567", "<phone>", "phone"),
    ("mein Handy 0171 2345678", "mein Handy <phone>", "phone"),
    ("030/1234567", "<phone>", "phone"),
    ("tel: 5551234567", "tel: <phone>", "phone"),
    ("whatsapp 4915112345678", "whatsapp <phone>", "phone"),
]

FALSE_POSITIVES = [
    "only $1,299.99 or 1.299,00 EUR, was 49.90",
    "bought on 2024-01-15, arrived 15.01.2024 (01/15/2024)",
    "rated 4.5/5, 5/5 stars, 10/10",
    "order #123456789 and order 1234-5678-9012",
    "delivered 10:30-11:45, size 120 x 60 x 75 cm",
    "ISBN 978-3-16-148410-0, model XPS-13-9310",
    "iPhone 15 case, 2 pack, 1999-2001 edition",
    "phone 2024-01-15 purchase, 3 of 5",
    "email me! support at the shop, user@localhost",
    "+5 stars, +10 points",
    "version 1.2.3, 100% cotton, 12.03.2024",
]


@pytest.mark.parametrize(("text", "scrubbed", "kind"), TRUE_POSITIVES)
def test_scrub_replaces_emails_urls_phones(text: str, scrubbed: str, kind: str) -> None:
    got, counts = privacy.scrub_text(pa.array([text]))
    assert got.to_pylist() == [scrubbed]
    assert counts == {k: int(k == kind) for k in privacy.SCRUB_KINDS}


@pytest.mark.parametrize("text", FALSE_POSITIVES)
def test_scrub_leaves_prices_dates_ratings_order_numbers(text: str) -> None:
    got, counts = privacy.scrub_text(pa.array([text]))
    assert got.to_pylist() == [text]
    assert counts == dict.fromkeys(privacy.SCRUB_KINDS, 0)


def test_scrub_counts_rows_not_matches_and_keeps_nulls() -> None:
    texts = ["a@b.io and c@d.io", None, "http://x.io +1 555 123 4567", "fine"]
    got, counts = privacy.scrub_text(pa.array(texts))
    assert got.to_pylist() == ["<email> and <email>", None, "<url> <phone>", "fine"]
    assert counts == {"url": 1, "email": 1, "phone": 1}


def test_scrub_columns_are_the_user_written_texts() -> None:
    assert privacy.scrub_columns(cols.REVIEWS) == [cols.TEXT]
    assert privacy.scrub_columns(cols.EVENTS) == [cols.QUERY]
    assert privacy.scrub_columns(cols.ITEMS) == []  # merchant text: not scrubbed
    assert privacy.user_id_columns(cols.USER_RELATIONS) == [cols.SRC_USER, cols.DST_USER]


def test_protect_pseudonymizes_ids_and_scrubs_text_schema_unchanged() -> None:
    rows = pa.Table.from_pylist(
        [
            {cols.USER_ID: u, cols.ITEM_ID: "i1", cols.RATING: 5.0, cols.TEXT: t, cols.TS: ts(1)}
            for u, t in (("u1", "x@y.de ok"), ("u2", "fine"))
        ],
        schema=cols.REVIEWS.arrow_schema(),
    )
    out, counts = privacy.protect(rows, cols.REVIEWS, privacy.Pseudonyms(KEY))
    assert out.schema.equals(rows.schema, check_metadata=True)
    assert out[cols.USER_ID].to_pylist() == privacy.pseudonymize(["u1", "u2"], KEY).to_pylist()
    assert out[cols.ITEM_ID].to_pylist() == ["i1", "i1"]
    assert out[cols.TEXT].to_pylist() == ["<email> ok", "fine"]
    assert counts == {cols.TEXT: {"url": 0, "email": 1, "phone": 0}}
    plain, _ = privacy.protect(rows, cols.REVIEWS, None)
    assert plain[cols.USER_ID].to_pylist() == ["u1", "u2"]
    assert plain[cols.TEXT].to_pylist() == ["<email> ok", "fine"]


# --- quarantine records ------------------------------------------------------------------------


def records(raws: list[str | None], details: list[str], table: schemas.Table) -> pa.Table:
    k = len(raws)
    return pa.table(
        {
            "table": [table.name] * k,
            "source": ["f.jsonl"] * k,
            "row": list(range(1, k + 1)),
            "reason": ["unknown_user"] * k,
            "reasons": [["unknown_user"]] * k,
            "column": [cols.SRC_USER] * k,
            "detail": details,
            "raw": raws,
        },
        schema=QUARANTINE_SCHEMA,
    )


def test_quarantined_rows_lose_raw_ids_with_a_key() -> None:
    long_id = "alice-" + "x" * 100
    raws = [
        json.dumps({cols.SRC_USER: "alice-1", cols.DST_USER: 42, cols.KIND: "follow"}),
        json.dumps({cols.SRC_USER: long_id, cols.DST_USER: ["bob-2"], cols.KIND: "follow"}),
        '{"src_user": "carol-3", "dst_us',  # a truncated line
        json.dumps({cols.SRC_USER: "  ", cols.DST_USER: None}),
    ]
    details = [
        "'alice-1' not among valid users.user_id",
        "value " + repr(long_id)[:77] + "... is not a string",
        "unterminated string",
        "required value is missing",
    ]
    out = privacy.protect_records(
        records(raws, details, cols.USER_RELATIONS), cols.USER_RELATIONS, KEY
    )
    alice, forty_two, long_p = privacy.pseudonymize(["alice-1", "42", long_id], KEY).to_pylist()
    got = out.to_pylist()
    assert json.loads(got[0]["raw"]) == {
        cols.SRC_USER: alice,
        cols.DST_USER: forty_two,
        cols.KIND: "follow",
    }
    assert got[0]["detail"] == f"'{alice}' not among valid users.user_id"
    assert json.loads(got[1]["raw"])[cols.DST_USER] == privacy.WITHHELD_VALUE
    assert got[1]["detail"] == f"value '{long_p}' is not a string"
    assert got[2]["raw"] == privacy.WITHHELD
    assert got[2]["detail"] == "unterminated string"
    assert json.loads(got[3]["raw"]) == {cols.SRC_USER: "  ", cols.DST_USER: None}
    text = json.dumps(got)
    for raw_id in ("alice-1", "alice-x", "bob-2", "carol-3"):
        assert raw_id not in text


def test_quarantined_review_text_is_scrubbed_key_or_not() -> None:
    raws = [
        json.dumps({cols.USER_ID: "u1", cols.TEXT: "write me: a@b.com"}),
        '{"user_id": "u1", "text": "call +1 555 123 4567',
    ]
    plain = privacy.protect_records(
        records(raws, ["x", "y"], cols.REVIEWS), cols.REVIEWS, None
    ).to_pylist()
    assert json.loads(plain[0]["raw"]) == {cols.USER_ID: "u1", cols.TEXT: "write me: <email>"}
    assert plain[1]["raw"] == '{"user_id": "u1", "text": "call <phone>'
    keyed = privacy.protect_records(records(raws, ["x", "y"], cols.REVIEWS), cols.REVIEWS, KEY)
    assert keyed["raw"].to_pylist()[1] == privacy.WITHHELD


def test_items_quarantine_is_untouched() -> None:
    raws = ['{"item_id": "i1", "image_uri": "https://cdn.example.com/1.jpg"}', "garbage"]
    rec = records(raws, ["a", "b"], cols.ITEMS)
    assert privacy.protect_records(rec, cols.ITEMS, KEY).equals(rec)


# --- the job -----------------------------------------------------------------------------------


def test_run_with_key_pseudonymizes_every_user_id_and_keeps_references(
    tmp_path, write_raw, users, items, events, caplog
) -> None:
    bad = {**events[0], cols.USER_ID: "ghost-user"}
    raw = write_shop(write_raw, tmp_path / "raw", "jsonl", users, items, [*events, bad])
    reviews = [
        {cols.USER_ID: "u1", cols.ITEM_ID: "i1", cols.RATING: 5.0, cols.TS: ts(2), cols.TEXT: t}
        for t in ["mail jane@doe.com", "see www.x.io/a and +1 555 123 4567"]
    ]
    reviews[1][cols.TS] = ts(3)
    write_raw(raw / "reviews.jsonl", reviews, "jsonl")
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        manifest = job.run(str(raw), str(out), config(pseudonym_key=KEY))
    assert manifest["pseudonymized"] is True
    assert manifest["scrubbed"]["reviews.text"] == {"url": 1, "email": 1, "phone": 1}
    assert manifest["scrubbed"]["events.query"] == {"url": 0, "email": 0, "phone": 0}
    users_out = layout.read_table(out, cols.USERS.name, layout.ALL)[cols.USER_ID].to_pylist()
    assert sorted(users_out) == sorted(privacy.pseudonymize(["u1", "u2", "u3"], KEY).to_pylist())
    ev = pa.concat_tables(
        layout.read_table(out, cols.EVENTS.name, s) for s in layout.splits_of(cols.EVENTS.name)
    )
    assert set(ev[cols.USER_ID].to_pylist()) <= set(users_out)
    for name, t in manifest["tables"].items():
        assert t["valid"] + t["quarantined"] == t["read"], name
    everything = [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    everything += [
        json.dumps(pq.read_table(p).to_pylist(), default=str).encode()
        for p in out.rglob("*.parquet")
    ]
    everything.append(caplog.text.encode())
    for blob in everything:
        for secret in (SECRET.encode(), b"ghost-user", b"jane@doe.com", b"555 123"):
            assert secret not in blob
        assert not re.search(rb"\bu[123]\b", blob)


def test_run_without_key_keeps_ids_and_says_so_once(
    tmp_path, write_raw, users, items, events, caplog
) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "parquet", users, items, events)
    with caplog.at_level(logging.WARNING):
        manifest = job.run(str(raw), str(tmp_path / "out"), config())
    assert manifest["pseudonymized"] is False
    assert [r.message for r in caplog.records].count(
        next(r.message for r in caplog.records if "pseudonymized=false" in r.message)
    ) == 1
    got = layout.read_table(tmp_path / "out", cols.USERS.name, layout.ALL)[cols.USER_ID]
    assert sorted(got.to_pylist()) == ["u1", "u2", "u3"]


def test_cli_reads_the_key_file_and_never_prints_it(
    tmp_path, write_raw, users, items, events
) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "csv", users, items, events)
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text(SECRET + "\n")
    out = tmp_path / "out"
    done = run_cli("--input", str(raw), "--out", str(out), "--pseudonym-key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "pseudonymized True" in done.stdout
    got = layout.read_table(out, cols.USERS.name, layout.ALL)[cols.USER_ID].to_pylist()
    assert sorted(got) == sorted(privacy.pseudonymize(["u1", "u2", "u3"], KEY).to_pylist())
    missing = run_cli("--input", str(raw), "--out", str(out), "--pseudonym-key-file", "/nope/k")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "ingest failed: pseudonymization key file /nope/k (from --pseudonym-key-file) cannot "
        "be read: No such file or directory"
    ]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "components.ingest", "--quiet", "--now", "2025-01-01", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )


def test_component_reads_the_mounted_key_from_the_environment(
    tmp_path, monkeypatch, write_raw, users, items, events
) -> None:
    from kfp.dsl import Dataset, Markdown, Metrics

    from components.ingest.component import execute

    raw = write_shop(write_raw, tmp_path / "raw", "parquet", users, items, events)
    key_file = tmp_path / "mounted" / "key"
    key_file.parent.mkdir()
    key_file.write_text(SECRET)
    monkeypatch.setenv(privacy.KEY_FILE_ENV, str(key_file))
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    data = Dataset(uri=str(tmp_path / "data"))
    quality = Markdown(uri=str(tmp_path / "quality.md"))
    counts = Metrics(uri=str(tmp_path / "counts.json"))
    execute(str(raw), "", "", "2025-01-01", data=data, quality=quality, counts=counts)
    assert data.metadata["pseudonymized"] is True
    assert "user ids pseudonymized: yes" in (tmp_path / "quality.md").read_text()
    got = layout.read_table(data.path, cols.USERS.name, layout.ALL)[cols.USER_ID].to_pylist()
    assert sorted(got) == sorted(privacy.pseudonymize(["u1", "u2", "u3"], KEY).to_pylist())
