import collections
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image

from components.sources import generate, truth
from components.sources.bad_rows import FUTURE_FROM_S
from schemas import TABLES, tables

FIXTURE = Path(__file__).parents[2] / "fixtures" / "shop-tiny"
FIXTURE_ARGS = {"users": 300, "items": 120, "events": 3_000, "seed": 1, "bad_fraction": 0.02}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _read(root: Path, name: str) -> pa.Table:
    parts = sorted((root / name).glob("part-*.parquet"))
    return pa.concat_tables(pq.read_table(p) for p in parts)


def test_fixture_regenerates_byte_for_byte(tmp_path):
    generate.generate_shop(str(tmp_path), **FIXTURE_ARGS)
    expected, got = _files(FIXTURE), _files(tmp_path)
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], f"{name} drifted: regenerate tests/fixtures/shop-tiny"
    assert sum(len(b) for b in expected.values()) < 1_000_000


def test_fixture_tables_have_the_contract_schema():
    for contract in TABLES:
        assert _read(FIXTURE, contract.name).schema == contract.arrow_schema()


def test_chunk_size_only_moves_part_boundaries(tmp_path):
    args = {**FIXTURE_ARGS, "events": 12_000}
    generate.generate_shop(str(tmp_path / "a"), **args, chunk_rows=200_000)
    summary = generate.generate_shop(str(tmp_path / "b"), **args, chunk_rows=5_000)
    assert summary["parts"][tables.EVENTS.name] == 3
    for contract in TABLES:
        a, b = _read(tmp_path / "a", contract.name), _read(tmp_path / "b", contract.name)
        assert a.equals(b), contract.name


def _classify_events(root: Path) -> collections.Counter:
    """Which planted fault each events row shows, checked in the file, independently of _meta."""
    users = set(_read(root, tables.USERS.name).column(tables.USER_ID).to_pylist())
    items = set(_read(root, tables.ITEMS.name).column(tables.ITEM_ID).to_pylist())
    found: collections.Counter = collections.Counter()
    previous = None
    for row in _read(root, tables.EVENTS.name).to_pylist():
        value, dwell = row[tables.VALUE], row[tables.DWELL_S]
        if row == previous:
            found["duplicate"] += 1
        elif row[tables.USER_ID] == "":
            found["missing_required"] += 1
        elif row[tables.USER_ID] not in users:
            found["unknown_user"] += 1
        elif row[tables.ITEM_ID] not in items:
            found["unknown_item"] += 1
        elif row[tables.EVENT_TYPE] not in tables.EVENT_TYPES:
            found["not_allowed"] += 1
        elif row[tables.TS].timestamp() >= FUTURE_FROM_S:
            found["future_ts"] += 1
        elif (value is not None and not 1 <= value <= 5) or (dwell is not None and dwell < 0):
            found["out_of_range"] += 1
        previous = row
    return found


def test_planted_event_faults_match_meta():
    meta = json.loads((FIXTURE / "_meta.json").read_text())
    assert _classify_events(FIXTURE) == collections.Counter(meta["bad_rows"][tables.EVENTS.name])
    assert meta["rows"][tables.EVENTS.name] == FIXTURE_ARGS["events"]


def test_truth_covers_every_good_user_and_item():
    users = pq.read_table(FIXTURE / "_truth" / "users.parquet")
    items = pq.read_table(FIXTURE / "_truth" / "items.parquet")
    assert users.num_rows == FIXTURE_ARGS["users"] and items.num_rows == FIXTURE_ARGS["items"]
    assert set(users.column(truth.SIGNAL_MODALITY).to_pylist()) == {
        "text", "image", "behavior", "relation", "id",
    }  # fmt: skip


def test_relation_users_have_friends_in_their_cluster():
    users = pq.read_table(FIXTURE / "_truth" / "users.parquet").to_pylist()
    cluster = {u[tables.USER_ID]: u[truth.CLUSTER] for u in users}
    modality = {u[tables.USER_ID]: u[truth.SIGNAL_MODALITY] for u in users}
    same = {"relation": [], "other": []}
    for edge in _read(FIXTURE, tables.USER_RELATIONS.name).to_pylist():
        src, dst = edge[tables.SRC_USER], edge[tables.DST_USER]
        if src in cluster and dst in cluster:
            key = "relation" if modality[src] == "relation" else "other"
            same[key].append(cluster[src] == cluster[dst])
    assert np.mean(same["relation"]) > 0.8
    assert np.mean(same["other"]) < 0.6


def test_images_decode_and_carry_the_category_colour():
    items = _read(FIXTURE, tables.ITEMS.name).to_pylist()[: FIXTURE_ARGS["items"]]
    truth_items = pq.read_table(FIXTURE / "_truth" / "items.parquet").to_pylist()
    category = {t[tables.ITEM_ID]: t[tables.CATEGORY] for t in truth_items}
    colours: dict[str, set] = collections.defaultdict(set)
    for item in items:
        if item[tables.IMAGE_BYTES] is None:
            continue
        pixels = np.asarray(Image.open(io.BytesIO(item[tables.IMAGE_BYTES])).convert("RGB"))
        found, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
        foreground = next(tuple(c) for c in found[np.argsort(-counts)] if tuple(c) != (245,) * 3)
        colours[category[item[tables.ITEM_ID]]].add(tuple(int(x) for x in foreground))
    with_image = sum(len(v) > 0 for v in colours.values())
    assert sum(item[tables.IMAGE_BYTES] is not None for item in items) > 0.6 * len(items)
    # one foreground colour per category, and no two categories share one
    assert all(len(v) == 1 for v in colours.values())
    assert len({next(iter(v)) for v in colours.values()}) == with_image


def test_text_users_write_their_cluster_words(tmp_path):
    generate.generate_shop(str(tmp_path), users=300, items=120, events=60_000, seed=2)
    users = pq.read_table(tmp_path / "_truth" / "users.parquet").to_pylist()
    info = {u[tables.USER_ID]: u for u in users}
    from components.sources.world import build_world  # the same world, to know the words

    world = build_world(users=300, items=120, seed=2, start=generate.DEFAULT_START, days=120)
    share = {"text": [], "other": []}
    for review in _read(tmp_path, tables.REVIEWS.name).to_pylist():
        who = info.get(review[tables.USER_ID])
        if who is None or not review[tables.TEXT]:
            continue
        words = set(world.vocab.cluster_words[who[truth.CLUSTER]])
        hit = bool(words & set(review[tables.TEXT].split()))
        share["text" if who[truth.SIGNAL_MODALITY] == "text" else "other"].append(hit)
    assert np.mean(share["text"]) > 0.9
    assert np.mean(share["other"]) < 0.1


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_text_formats_carry_wrong_types(tmp_path, fmt):
    summary = generate.generate_shop(str(tmp_path), users=50, items=30, events=4_000, seed=5,
                                     fmt=fmt, bad_fraction=0.1)  # fmt: skip
    text = (tmp_path / "events" / f"part-00000.{fmt}").read_text()
    planted = summary["bad_rows"][tables.EVENTS.name]["wrong_type"]
    assert planted > 0
    marker = '"dwell_s":"abc"' if fmt == "jsonl" else ",abc,"
    assert text.count(marker) == planted
    lines = text.splitlines()
    assert len(lines) == 4_000 + (fmt == "csv")


def test_zero_events_still_writes_every_table(tmp_path):
    summary = generate.generate_shop(str(tmp_path), users=3, items=2, events=0, seed=0)
    assert summary["rows"][tables.EVENTS.name] == 0
    assert pq.read_table(tmp_path / "events" / "part-00000.parquet").schema == (
        tables.EVENTS.arrow_schema()
    )


@pytest.mark.parametrize(
    ("arg", "value"), [("users", 0), ("events", -1), ("fmt", "xml"), ("bad_fraction", 0.9)]
)
def test_bad_arguments_name_themselves(tmp_path, arg, value):
    args = {"users": 5, "items": 5, "events": 10, "seed": 0, arg: value}
    with pytest.raises(generate.GeneratorConfigError, match=arg):
        generate.generate_shop(str(tmp_path), **args)


def test_cli_writes_the_layout(tmp_path):
    code = generate.main(["--users", "20", "--items", "10", "--events", "500", "--seed", "3",
                          "--out", str(tmp_path), "--format", "csv"])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["_meta.json", "_truth", *(t.name for t in TABLES)]
    )
    assert (tmp_path / "events" / "part-00000.csv").read_text().count("\n") == 501
    assert generate.main(["--out", str(tmp_path), "--users", "0"]) == 2


def test_meta_records_args_and_history_cut():
    meta = json.loads((FIXTURE / "_meta.json").read_text())
    assert meta["args"]["seed"] == 1 and meta["args"]["fmt"] == "parquet"
    assert meta["world"]["history_cut"] == "2024-03-31T00:00:00Z"
    assert set(meta["bad_rows"]) == {t.name for t in TABLES}
    assert pc.sum(pa.array([sum(v.values()) for v in meta["bad_rows"].values()])).as_py() > 0
