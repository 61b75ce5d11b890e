"""Towers: id dropout (training only, to the OOV bucket, never for ID-only) and the shared space."""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np
import pytest
import tensorflow as tf

from components.train.config import TrainConfig, parse_modalities
from components.train.towers import CandidateTower, QueryTower, SharedEmbeddings, Vocabularies
from schemas import features as fs
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
