"""On a refused night the model in service keeps serving, but never what is no longer sold.

The tiny model is pushed as the model in service; tonight's catalog drops the items it
recommends most; the candidate is refused. ``keep`` must publish the same model restricted to
today's catalog (served top-K without a delisted item, and without the request's history),
move LATEST by the same compare-and-swap as push, change nothing when nothing was delisted, and
refuse a blessing read against another LATEST. Real SavedModels, a local root.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import shutil

import pyarrow.parquet as pq
import pytest

from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.exported_model import ExportedModel
from components.ingest import layout as ingest_layout
from components.push.job import run as push
from components.push.keep import keep
from components.registry.digest import model_digest
from components.registry.errors import LatestMoved
from components.registry.model_root import MODEL_SUBDIR, ModelRoot
from components.train import outputs as train_outputs
from components.transform.outputs import requests_path
from schemas import ITEMS
from schemas import features as fs
from schemas.tables import ITEM_ID

pytestmark = pytest.mark.slow

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DELISTED = 5  # the items the model in service recommends most, gone from tonight's catalog


def write_docs(ev, *, blessed: bool, root: str, model_dir: str) -> None:
    ev.mkdir(parents=True, exist_ok=True)
    latest = ModelRoot(root).latest("m")
    doc = BlessingDocument(
        blessed=blessed,
        gate_passed=blessed,
        reasons=["test"],
        in_service_version=latest.version,
        latest_sha256=latest.sha256,
        model_digest=model_digest(model_dir),
    )
    (ev / "blessing.json").write_text(json.dumps(doc.as_dict()))
    (ev / "metrics.json").write_text(json.dumps(MetricsDocument().as_dict()))


def served(serving_dir: str, requests) -> list[list[str]]:
    return ExportedModel(serving_dir).top_k(requests)[0]


@pytest.fixture(scope="module")
def night(tmp_path_factory, tiny_data, tiny_examples, tiny_model):
    """The tiny model in service; tonight's data without its most recommended items."""
    base = tmp_path_factory.mktemp("keep")
    root = str(base / "root")
    write_docs(base / "ev1", blessed=True, root=root, model_dir=str(tiny_model))
    first = push(
        model_dir=str(tiny_model),
        metrics_path=str(base / "ev1" / "metrics.json"),
        blessing_path=str(base / "ev1" / "blessing.json"),
        data_manifest_path=str(tiny_data / ingest_layout.MANIFEST),
        model_root=root,
        model_name="m",
        transform_dir=str(tiny_examples["graph"]),
        now=T0,
    )
    requests = pq.read_table(requests_path(str(tiny_examples["examples"]), ingest_layout.EVAL))
    counts = collections.Counter(
        i for row in served(train_outputs.serving_dir(str(tiny_model)), requests) for i in row
    )
    delisted = {i for i, _ in counts.most_common(DELISTED)}
    today = base / "today"
    shutil.copytree(tiny_data, today)
    items_path = ingest_layout.table_path(today, ITEMS.name, ingest_layout.ALL)
    items = pq.read_table(items_path)
    pq.write_table(items.filter([i not in delisted for i in items[ITEM_ID].to_pylist()]),
                   items_path)  # fmt: skip
    write_docs(base / "ev2", blessed=False, root=root, model_dir=str(tiny_model))
    return {
        "base": base,
        "root": root,
        "first": first["version"],
        "today": today,
        "requests": requests,
        "delisted": delisted,
        "examples": tiny_examples["examples"],
    }


def keep_tonight(night, ev="ev2", now=T0 + dt.timedelta(days=1)):
    return keep(
        data_dir=str(night["today"]),
        examples_dir=str(night["examples"]),
        metrics_path=str(night["base"] / ev / "metrics.json"),
        blessing_path=str(night["base"] / ev / "blessing.json"),
        model_root=night["root"],
        model_name="m",
        now=now,
    )


@pytest.fixture(scope="module")
def kept(night):
    return keep_tonight(night)


def test_the_kept_model_never_serves_a_delisted_item(night, kept) -> None:
    root = ModelRoot(night["root"])
    assert kept["unchanged"] is False and kept["delisted"] == DELISTED
    assert root.read_latest("m") == kept["version"] != night["first"]
    manifest = root.read_manifest("m", kept["version"])
    assert manifest["kept_from"] == night["first"] == manifest["parent_version"]
    assert set(manifest["delisted_items"]) == night["delisted"]
    serving = train_outputs.serving_dir(root.version_dir("m", kept["version"]) + f"/{MODEL_SUBDIR}")
    lists = served(serving, night["requests"])
    assert len(lists) == night["requests"].num_rows and all(lists)
    assert not {i for row in lists for i in row} & night["delisted"]
    # Nor the request's own history (the exclusion the gate's evaluation assumes).
    history = night["requests"][fs.HIST_ITEM_IDS].to_pylist()
    assert all(not set(row) & set(h or ()) for row, h in zip(lists, history, strict=True))
    assert set(ExportedModel(serving).catalog_items()).isdisjoint(night["delisted"])


def test_keeping_again_with_nothing_newly_delisted_changes_nothing(night, kept) -> None:
    write_docs(night["base"] / "ev3", blessed=False, root=night["root"],
               model_dir=str(night["today"]))  # fmt: skip
    again = keep_tonight(night, "ev3", now=T0 + dt.timedelta(days=2))
    assert again["unchanged"] is True and again["version"] == kept["version"]
    assert ModelRoot(night["root"]).list_versions("m") == sorted([night["first"], kept["version"]])


def test_a_keep_read_against_another_latest_is_refused(night, kept) -> None:
    # ev2 was evaluated while the first version was in service; LATEST has moved since.
    with pytest.raises(LatestMoved, match="moved since evaluate read it"):
        keep_tonight(night, "ev2", now=T0 + dt.timedelta(days=3))
    assert ModelRoot(night["root"]).read_latest("m") == kept["version"]


def test_the_gate_judges_the_model_in_service_as_it_will_be_kept(night, kept) -> None:
    """Evaluate re-ranks the model in service on today's catalog: the kept model's top-K."""
    from components.evaluate.exported import rank_with_model
    from components.protocol import build_eval_set, requests_for
    from schemas import EVENTS

    root = ModelRoot(night["root"])
    today = night["today"]
    eval_set = build_eval_set(
        ingest_layout.read_table(today, EVENTS.name, ingest_layout.TRAIN),
        ingest_layout.read_table(today, EVENTS.name, ingest_layout.EVAL),
    )
    requests = requests_for(night["requests"], eval_set.users)
    catalog = set(ingest_layout.read_table(today, ITEMS.name, ingest_layout.ALL)[ITEM_ID]
                  .to_pylist())  # fmt: skip
    in_service = root.version_dir("m", night["first"]) + f"/{MODEL_SUBDIR}"
    judged, how = rank_with_model(in_service, requests, eval_set, depth=50, batch_size=256,
                                  catalog=catalog)  # fmt: skip
    assert how["delisted_items"] == DELISTED
    assert not {i for row in judged for i in row} & night["delisted"]
    serving = train_outputs.serving_dir(root.version_dir("m", kept["version"]) + f"/{MODEL_SUBDIR}")
    lists = served(serving, requests)
    # Evaluate removes the user's whole train-window history, the request only its last items:
    # past those, the kept model serves the very ranking the gate judged.
    unseen = [[i for i in row if i not in h] for row, h in zip(lists, eval_set.history,
                                                               strict=True)]  # fmt: skip
    depth = min(50, len(lists[0]) - len(night["requests"][fs.HIST_ITEM_IDS][0]))
    same = sum(
        list(map(str, row[:depth])) == list(map(str, ranked[:depth]))
        for row, ranked in zip(unseen, judged, strict=True)
    )
    assert same >= 0.95 * len(lists), (same, len(lists))  # float ties may swap a pair
