"""The trainer as a process on the bundled tiny sample: resume after SIGKILL, two workers,
cold start through the exported embedding signatures.

Inputs are the session's tiny shop, ingested and transformed once by the real stages; every
trainer runs as ``python -m components.train`` in a subprocess, as a pipeline step or a container
would.
Optimizer steps are read from the ``optimizer/_iterations`` variable of the checkpoints.
"""

import glob
import json
import math
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from components.evaluate.ranking_head import with_catalog_content
from components.exported_model import ExportedModel
from components.train.catalog import raw_tensors
from components.train.job import write_user_embeddings
from components.train.outputs import BACKUP_DIR, CHECKPOINT_DIR, MANIFEST
from components.transform.outputs import (
    RAW_EXAMPLES_FILE,
    raw_catalog_path,
    raw_examples_dir,
    requests_path,
)
from schemas.features import HIST_ITEM_IDS, IMAGE_EMBEDDING_LEN, Side
from schemas.tables import IMAGE_EMBEDDING, ITEM_ID, USER_ID
from tests.tiny_shop import REPO

ITERATIONS = "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"
BATCH = 32  # 1,140 train examples on the tiny sample: 36 steps an epoch
KILL_WAIT_S = 120.0
RESUME_FLAGS = ("--epochs", "2", "--batch-size", str(BATCH), "--checkpoint-every-steps", "4",
                "--modalities", "none")  # fmt: skip


def train_command(tiny: dict, model: pathlib.Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "components.train", "--examples", str(tiny["examples"]),
            "--transform-graph", str(tiny["graph"]), "--model", str(model), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_examples):
    """The session's transformed tiny shop, and a work directory for this module's trainers."""
    return {"work": tmp_path_factory.mktemp("train-tiny"), **tiny_examples}


def iterations(checkpoint: str, *, prefix: str = "") -> int:
    """The optimizer's step counter stored in a checkpoint (``model/`` in a backup)."""
    return int(tf.train.load_checkpoint(checkpoint).get_tensor(prefix + ITERATIONS))


def train(tiny: dict, model: pathlib.Path, *flags: str) -> pathlib.Path:
    subprocess.run(train_command(tiny, model, *flags), check=True, capture_output=True, cwd=REPO)
    return model


@pytest.fixture(scope="module")
def id_only(tiny):
    """An uninterrupted ID-only run (also the reference of the resume test)."""
    return train(tiny, tiny["work"] / "id-only", *RESUME_FLAGS)


@pytest.fixture(scope="module")
def full(tiny):
    """Every content modality on."""
    return train(tiny, tiny["work"] / "full", "--epochs", "3", "--batch-size", str(BATCH))


@pytest.mark.slow
def test_trainer_killed_mid_epoch_resumes_and_takes_the_same_number_of_steps(
    tiny, id_only, tmp_path
):
    flags = RESUME_FLAGS
    whole = id_only
    examples = json.loads((whole / MANIFEST).read_text())["examples"]
    steps_per_epoch = math.ceil(examples / BATCH)
    expected = iterations(str(whole / CHECKPOINT_DIR / "epoch-002"))
    assert expected == 2 * steps_per_epoch

    killed = tmp_path / "killed"
    log = tmp_path / "killed.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            train_command(tiny, killed, *flags), stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
    try:
        deadline = time.monotonic() + KILL_WAIT_S
        # The CheckpointManager's state file is written after the checkpoint itself.
        while not glob.glob(str(killed / BACKUP_DIR / "*" / "checkpoint")):
            assert proc.poll() is None, f"trainer exited before a backup: {log.read_text()}"
            assert time.monotonic() < deadline, f"no backup after {KILL_WAIT_S} s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    backup = tf.train.latest_checkpoint(glob.glob(str(killed / BACKUP_DIR / "*"))[0])
    at_kill = iterations(backup, prefix="model/")
    # Killed in the middle of the first epoch: no epoch checkpoint, some steps backed up.
    assert 0 < at_kill < steps_per_epoch
    assert not (killed / CHECKPOINT_DIR / "epoch-001.index").exists()

    train(tiny, killed, *flags)
    # Resumed from the backup (a fresh start would also end at `expected`), then finished.
    assert json.loads((whole / MANIFEST).read_text())["resumed_at_step"] == 0
    assert json.loads((killed / MANIFEST).read_text())["resumed_at_step"] == at_kill
    assert iterations(str(killed / CHECKPOINT_DIR / "epoch-002")) == expected
    print(f"resume: steps_per_epoch={steps_per_epoch} killed_at={at_kill} total={expected}")
    assert (killed / "serving" / "saved_model.pb").exists()


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def printed_manifest(stdout: str) -> dict:
    """The manifest the CLI prints last (Keras progress lines come before it)."""
    return json.loads(stdout[stdout.rindex("\n{\n") + 1 :])


@pytest.mark.slow
def test_two_workers_train_the_same_model_and_only_the_chief_exports(tiny, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    model = tmp_path / "model"  # one shared output path, as on a shared filesystem
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        command = train_command(tiny, model, "--epochs", "1", "--batch-size", "64",
                                "--modalities", "none")  # fmt: skip
        procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env, cwd=REPO))  # fmt: skip
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=KILL_WAIT_S * 2)
            assert proc.returncode == 0, err[-3000:]
            results.append(printed_manifest(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    chief, worker = results
    for manifest in results:
        assert manifest["strategy"] == tf.distribute.MultiWorkerMirroredStrategy.__name__
        assert manifest["replicas"] == 2
    assert (chief["chief"], worker["chief"]) == (True, False)
    assert chief["weights_sha256"] == worker["weights_sha256"]
    assert json.loads((model / MANIFEST).read_text()) == chief
    assert (model / "serving" / "saved_model.pb").exists()
    # No worker's output left beside the chief's (tf_keras's BackupAndRestore leaves the
    # worker's emptied backup/workertemp_1 directory: tolerated, it holds no file).
    left = [
        p for p in model.rglob("*") if p.is_file() and "workertemp" in str(p.relative_to(model))
    ]
    assert not left


def with_ids(rows: pa.Table, column: str, ids: list[str]) -> pa.Table:
    """``rows`` with ``column`` replaced by ``ids`` (same Arrow type: scalar or one-value list)."""
    kind = rows.schema.field(column).type
    values = [[i.encode()] for i in ids] if pa.types.is_large_list(kind) else ids
    return rows.set_column(rows.schema.get_field_index(column), column, pa.array(values, kind))


def nearer_own_than_other(copies: np.ndarray, originals: np.ndarray) -> float:
    """Share of pairs (i, j != i) where copy i is nearer original i than original j."""
    distance = np.linalg.norm(copies[:, None, :] - originals[None, :, :], axis=-1)
    own = np.diag(distance)[:, None]
    other = ~np.eye(len(copies), dtype=bool)
    return float((own < distance)[other].mean())


def embed(model: pathlib.Path, signature: str, rows: pa.Table, side: Side) -> np.ndarray:
    loaded = tf.saved_model.load(str(model / "serving"))
    return loaded.signatures[signature](**raw_tensors(rows, side))["embedding"].numpy()


@pytest.mark.slow
def test_unseen_items_and_users_are_placed_by_their_content(tiny, full, id_only):
    trained = pq.read_table(
        os.path.join(raw_examples_dir(str(tiny["examples"]), "train"), RAW_EXAMPLES_FILE)
    )
    known_items = {i[0] for i in trained[ITEM_ID].to_pylist()}
    known_users = {u[0].decode() for u in trained[USER_ID].to_pylist()}
    catalog = pq.read_table(raw_catalog_path(str(tiny["examples"])))
    rows = catalog.filter(pa.array([i[0] in known_items for i in catalog[ITEM_ID].to_pylist()]))
    assert rows.num_rows >= 20
    n = rows.num_rows

    def items(model: pathlib.Path, table: pa.Table) -> np.ndarray:
        return embed(model, "candidate_embedding", table, Side.CANDIDATE)

    originals = items(full, rows)
    copies = items(full, with_ids(rows, ITEM_ID, [f"cold-item-{i}" for i in range(n)]))
    twins = items(full, with_ids(rows, ITEM_ID, [f"other-cold-{i}" for i in range(n)]))
    # Same content, two unseen ids: the same embedding; different content: different ones.
    np.testing.assert_allclose(copies, twins, atol=1e-6)
    assert np.linalg.norm(copies[0] - copies[1:], axis=-1).min() > 1e-3
    item_share = nearer_own_than_other(copies, originals)
    # The ID-only model has nothing but the id: every unseen item lands on one point.
    id_only_copies = items(id_only, with_ids(rows, ITEM_ID, [f"cold-{i}" for i in range(n)]))
    np.testing.assert_allclose(id_only_copies, id_only_copies[:1].repeat(n, 0), atol=1e-6)

    requests = pq.read_table(requests_path(str(tiny["examples"]), "eval"))
    has_context = [
        u in known_users and h[0] != "" for u, h in
        zip(requests[USER_ID].to_pylist(), requests[HIST_ITEM_IDS].to_pylist(), strict=True)
    ]  # fmt: skip
    users = requests.filter(pa.array(has_context))
    assert users.num_rows >= 20
    known = embed(full, "query_embedding", users, Side.QUERY)
    strangers = with_ids(users, USER_ID, [f"cold-user-{i}" for i in range(users.num_rows)])
    user_share = nearer_own_than_other(embed(full, "query_embedding", strangers, Side.QUERY), known)
    print(f"cold start: items={n} nearer_own={item_share:.3f} "
          f"users={users.num_rows} nearer_own={user_share:.3f}")  # fmt: skip
    assert item_share > 0.8
    assert user_share > 0.8


@pytest.mark.slow
def test_user_embeddings_are_each_request_s_query_embedding_streamed_in_any_batch_size(
    tiny, full, tmp_path
):
    requests = requests_path(str(tiny["examples"]), "eval")
    written = pq.read_table(full / "embeddings" / "users.parquet")
    loaded = tf.saved_model.load(str(full / "serving"))

    def embed(rows: pa.Table) -> np.ndarray:
        feed = raw_tensors(rows, Side.QUERY)
        return loaded.signatures["query_embedding"](**feed)["embedding"].numpy()

    again = tmp_path / "users.parquet"
    count = write_user_embeddings(embed, requests, str(again), dim=32, batch_rows=50)

    rows = pq.read_table(requests)
    assert count == written.num_rows == rows.num_rows > 50 * 3
    assert written[USER_ID].to_pylist() == rows[USER_ID].to_pylist()
    theirs = pq.read_table(again)
    assert theirs[USER_ID].to_pylist() == rows[USER_ID].to_pylist()
    np.testing.assert_allclose(
        np.array(theirs["embedding"].to_pylist()),
        np.array(written["embedding"].to_pylist()),
        rtol=1e-5,
        atol=1e-5,
    )


def without_embeddings(rows: pa.Table, how: str) -> pa.Table:
    """``rows`` whose image embedding is null (a request without one) or explicit zeros."""
    index = rows.schema.get_field_index(IMAGE_EMBEDDING)
    kind = rows.schema.field(index).type
    values = (
        [None] * rows.num_rows if how == "null" else [[0.0] * IMAGE_EMBEDDING_LEN] * rows.num_rows
    )
    return rows.set_column(index, IMAGE_EMBEDDING, pa.array(values, kind))


@pytest.mark.slow
def test_a_model_trained_with_embeddings_serves_items_with_and_without_one(
    tiny_examples, tiny_model
):
    catalog = pq.read_table(raw_catalog_path(str(tiny_examples["examples"])))
    given = np.array(catalog[IMAGE_EMBEDDING].to_pylist(), np.float32).reshape(
        -1, IMAGE_EMBEDDING_LEN
    )
    has = np.any(given != 0, axis=1)
    assert 0.5 < has.mean() < 1.0  # the tiny shop has items with and without one
    served = ExportedModel(str(tiny_model / "serving"))
    # Trained with the embeddings in: the export's catalog embeddings (what training scored) are
    # the signature's on the raw catalog, items with an embedding and items without alike.
    written = pq.read_table(tiny_model / "embeddings" / "items.parquet")
    assert written[ITEM_ID].to_pylist() == [i[0].decode() for i in catalog[ITEM_ID].to_pylist()]
    with_one = served.embed_candidates(catalog)
    np.testing.assert_allclose(with_one, np.array(written["embedding"].to_pylist()), atol=1e-5)
    # A request without the embedding (null) is served as one with zeros: missing, flagged.
    nulled = served.embed_candidates(without_embeddings(catalog, "null"))
    zeros = served.embed_candidates(without_embeddings(catalog, "zeros"))
    assert np.isfinite(nulled).all()
    np.testing.assert_allclose(nulled, zeros, atol=1e-6)
    # Items that had none are unchanged; items that had one move: the model reads it.
    np.testing.assert_allclose(nulled[~has], with_one[~has], atol=1e-6)
    moved = np.linalg.norm(nulled[has] - with_one[has], axis=1)
    assert (moved > 1e-4).all(), moved.min()
    # Only the direction counts: the same vectors scaled give the same item.
    index = catalog.schema.get_field_index(IMAGE_EMBEDDING)
    scaled = catalog.set_column(index, IMAGE_EMBEDDING, pa.array(
        [list(v * 7.0) for v in given], catalog.schema.field(index).type))  # fmt: skip
    np.testing.assert_allclose(served.embed_candidates(scaled), with_one, atol=1e-5)

    # The ranking signature takes (user, item) pairs with and without the item's embedding.
    examples = os.path.join(raw_examples_dir(str(tiny_examples["examples"]), "eval"),
                            RAW_EXAMPLES_FILE)  # fmt: skip
    pairs, unknown = with_catalog_content(pq.read_table(examples).slice(0, 64), catalog)
    assert unknown == 0
    positions = {i[0]: r for r, i in enumerate(catalog[ITEM_ID].to_pylist())}
    rows = [positions[i[0]] for i in pairs[ITEM_ID].to_pylist()]
    probability = served.conversion_probabilities(pairs)
    without = served.conversion_probabilities(without_embeddings(pairs, "null"))
    assert ((probability > 0) & (probability < 1)).all() and np.isfinite(without).all()
    pair_has = has[rows]
    assert pair_has.any()
    np.testing.assert_allclose(without[~pair_has], probability[~pair_has], atol=1e-6)
    assert not np.allclose(without[pair_has], probability[pair_has], atol=1e-6)
