"""Towers: id dropout (training only, to the OOV bucket, never for ID-only), the shared space,
and the contract that every declared query or candidate feature reaches its tower."""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np
import pytest
import tensorflow as tf

from components.train.config import ALL_MODALITIES, TrainConfig, parse_modalities
from components.train.towers import (
    IMAGE_PIXELS,
    IMAGE_VALID,
    CandidateTower,
    QueryTower,
    SharedEmbeddings,
    Vocabularies,
    masked_mean,
    pooled_lookup,
)
from schemas import features as fs
from schemas.contract import SWITCHABLE, Side
from schemas.tables import AGE_BUCKET, COUNTRY, ITEM_ID, USER_ID

SIZES = Vocabularies(users=10, items=5, tokens=5, categories=6)
xf = fs.transformed_name


def _tower(modalities: str, dropout: float) -> QueryTower:
    tf.keras.utils.set_random_seed(1)
    config = TrainConfig(
        modalities=parse_modalities(modalities), user_id_dropout=dropout, shared_space=False
    )
    shared = SharedEmbeddings(SIZES, config.embedding_dim)
    return QueryTower(shared=shared, sizes=SIZES, config=config)


def _features(users: list[int]) -> dict[str, tf.Tensor]:
    n = len(users)
    return {
        xf(USER_ID): tf.constant(users, tf.int64),
        xf(COUNTRY): tf.ones([n], tf.int64),
        xf(AGE_BUCKET): tf.fill([n], tf.constant(2, tf.int64)),
    }


def test_dropped_users_look_like_unseen_users_in_training_only():
    tower = _tower("profile", 0.999999)
    own = _features([1, 2, 3, 4])
    unseen = _features([SIZES.users - 1] * 4)  # the OOV bucket: the last row
    np.testing.assert_allclose(tower(own, training=True), tower(unseen), rtol=1e-6)
    assert not np.allclose(tower(own), tower(unseen))


@pytest.mark.parametrize(("modalities", "dropout"), [("profile", 0.0), ("none", 0.999999)])
def test_no_dropout_when_off_or_nothing_else_places_the_user(modalities, dropout):
    tower = _tower(modalities, dropout)
    own = _features([1, 2, 3, 4])
    np.testing.assert_allclose(tower(own, training=True), tower(own), rtol=1e-6)


@pytest.mark.parametrize("shared_space", [True, False])
def test_shared_space_maps_both_towers_words_and_items_alike(shared_space):
    config = TrainConfig(
        modalities=parse_modalities("text"), user_id_dropout=0.0, shared_space=shared_space
    )
    shared = SharedEmbeddings(SIZES, config.embedding_dim)
    query = QueryTower(shared=shared, sizes=SIZES, config=config)
    candidate = CandidateTower(shared=shared, config=config)
    words = tf.constant([[1, 2, 0], [3, 0, 0]], tf.int64)
    query({xf(USER_ID): tf.constant([1, 2], tf.int64), fs.USER_TEXT_TOKENS: words})
    candidate({xf(ITEM_ID): tf.constant([1, 2], tf.int64), fs.ITEM_TEXT_TOKENS: words})
    spaces = {v.ref() for v in shared.text_space.weights + shared.item_space.weights}
    assert len(spaces) == (2 if shared_space else 0)
    assert spaces <= {v.ref() for v in candidate.trainable_variables}
    assert {v.ref() for v in shared.text_space.weights} <= {
        v.ref() for v in query.trainable_variables
    }


# --- contract: every declared query or candidate feature reaches its tower --------------------

ROWS = 4
TABLE_ROWS = {fs.ITEM_VOCAB: SIZES.items, fs.USER_VOCAB: SIZES.users,
              fs.TEXT_VOCAB: SIZES.tokens, fs.CATEGORICAL_VOCAB: SIZES.categories}  # fmt: skip


def _inputs_of(feature: fs.Feature) -> tuple[str, ...]:
    """The transformed inputs a tower gets from one raw feature (the image arrives decoded)."""
    return (
        (IMAGE_PIXELS, IMAGE_VALID) if feature.name == fs.IMAGE else fs.output_names(feature.name)
    )


def _value(feature: fs.Feature, name: str, rng: np.random.Generator) -> tf.Tensor:
    """A valid random transformed value of ``name`` for ``ROWS`` rows (ids never padding)."""
    if name == IMAGE_PIXELS:
        return tf.constant(rng.random((ROWS, fs.IMAGE_SIZE, fs.IMAGE_SIZE, 3)), tf.float32)
    if name in (IMAGE_VALID, fs.IMAGE_EMBEDDING_VALID):
        return tf.ones([ROWS], tf.float32)
    if name == fs.IMAGE_EMBEDDING_UNIT:
        vectors = rng.normal(size=(ROWS, fs.IMAGE_EMBEDDING_LEN))
        return tf.constant(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), tf.float32)
    shape = [ROWS]
    if feature.name == fs.HIST_AGE_DAYS:  # recency bucket + 1 (0 = padding)
        high = len(fs.RECENCY_BOUNDARIES) + 2
    elif feature.is_string:
        high = TABLE_ROWS[fs.vocabulary_name(feature.name)]
    else:
        return tf.constant(rng.normal(size=[*shape, *feature.shape]), tf.float32)
    width = 5 if feature.name in fs.TEXT_FEATURES else None
    dims = [*shape, *(feature.shape if width is None else [width])]
    return tf.constant(rng.integers(1, high, size=dims), tf.int64)


def _batch(side: Side, seed: int) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(seed)
    return {n: _value(f, n, rng) for f in fs.features(side) for n in _inputs_of(f)}


def _towers(modalities: frozenset) -> tuple[QueryTower, CandidateTower]:
    """Both towers, built and then given random weights (``ones`` init would hide inputs)."""
    tf.keras.utils.set_random_seed(3)
    config = TrainConfig(modalities=modalities, user_id_dropout=0.0)
    shared = SharedEmbeddings(SIZES, config.embedding_dim)
    query = QueryTower(shared=shared, sizes=SIZES, config=config)
    candidate = CandidateTower(shared=shared, config=config)
    query(_batch(Side.QUERY, 0))
    candidate(_batch(Side.CANDIDATE, 0))
    rng = np.random.default_rng(4)
    for variable in {v.ref(): v for v in query.weights + candidate.weights}.values():
        variable.assign(rng.normal(size=variable.shape).astype(np.float32))
    return query, candidate


@pytest.mark.parametrize("side", [Side.QUERY, Side.CANDIDATE])
def test_every_declared_feature_reaches_its_tower_when_its_modality_is_on(side):
    towers = dict(zip((Side.QUERY, Side.CANDIDATE), _towers(ALL_MODALITIES), strict=True))
    tower, batch, other = towers[side], _batch(side, 0), _batch(side, 1)
    declared = fs.features(side)
    assert declared
    for feature in declared:
        changed = batch | {n: other[n] for n in _inputs_of(feature)}
        assert not np.allclose(tower(batch), tower(changed)), f"{feature.name} is not read"


@pytest.mark.parametrize("modality", SWITCHABLE)
def test_a_feature_of_a_modality_switched_off_reaches_no_tower(modality):
    query, candidate = _towers(ALL_MODALITIES - {modality})
    for side, tower in ((Side.QUERY, query), (Side.CANDIDATE, candidate)):
        batch, other = _batch(side, 0), _batch(side, 1)
        for feature in fs.features(side, modality):
            changed = batch | {n: other[n] for n in _inputs_of(feature)}
            np.testing.assert_array_equal(tower(batch), tower(changed), err_msg=feature.name)


def test_the_candidate_tower_reads_the_precomputed_embedding_and_its_flag():
    _, candidate = _towers(ALL_MODALITIES)
    batch = _batch(Side.CANDIDATE, 0)
    missing = batch | {
        fs.IMAGE_EMBEDDING_UNIT: tf.zeros([ROWS, fs.IMAGE_EMBEDDING_LEN]),
        fs.IMAGE_EMBEDDING_VALID: tf.zeros([ROWS]),
    }
    # Zeros flagged as an embedding are not "no embedding": the flag itself is an input.
    flagged_zeros = missing | {fs.IMAGE_EMBEDDING_VALID: tf.ones([ROWS])}
    outputs = [candidate(b).numpy() for b in (batch, missing, flagged_zeros)]
    assert not np.allclose(outputs[0], outputs[1])
    assert not np.allclose(outputs[1], outputs[2])
    # Rows are independent: a missing embedding on one row changes that row only.
    one_missing = {name: tf.concat([missing[name][:1], batch[name][1:]], axis=0) for name in batch}
    mixed = candidate(one_missing).numpy()
    np.testing.assert_allclose(mixed[0], outputs[1][0], rtol=1e-5)
    np.testing.assert_allclose(mixed[1:], outputs[0][1:], rtol=1e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_sparse_pooled_lookup_equals_the_masked_mean_and_its_gradient(weighted):
    tf.keras.utils.set_random_seed(3)
    table = tf.keras.layers.Embedding(7, 4)
    ids = tf.constant([[1, 2, 2, 0], [0, 0, 0, 0], [6, 0, 3, 1]], tf.int64)  # repeats, empty row
    weights = tf.constant([[1.0, 2.0, 0.5, 9.0], [1.0] * 4, [0.1, 3.0, 1.0, 1.0]])
    w = weights if weighted else None
    with tf.GradientTape(persistent=True) as tape:
        dense = masked_mean(table(ids), ids, w)
        sparse = pooled_lookup(table, ids, w)
        losses = [tf.reduce_sum(tf.square(x) * tf.range(1.0, 5.0)) for x in (dense, sparse)]
    np.testing.assert_allclose(sparse.numpy(), dense.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.any(sparse.numpy()[1])  # a row of padding pools to zeros
    grads = [tf.convert_to_tensor(tape.gradient(x, table.embeddings)) for x in losses]
    np.testing.assert_allclose(grads[1].numpy(), grads[0].numpy(), rtol=1e-5, atol=1e-6)
