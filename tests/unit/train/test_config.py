"""parse_modalities and TrainConfig validation."""

import dataclasses

import pytest

from components.train.config import ALL_MODALITIES, TrainConfig, parse_modalities
from schemas.contract import Modality


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", ALL_MODALITIES),
        (" ALL ", ALL_MODALITIES),
        ("", frozenset()),
        ("none", frozenset()),
        ("id", frozenset()),
        ("text", {Modality.TEXT}),
        ("text, image,,TEXT", {Modality.TEXT, Modality.IMAGE}),
        ("profile,behavior,relation", {Modality.PROFILE, Modality.BEHAVIOR, Modality.RELATION}),
    ],
)
def test_parse_modalities(text, expected):
    assert parse_modalities(text) == frozenset(expected)


@pytest.mark.parametrize("text", ["txt", "text,audio", "id,text", "all,text"])
def test_unknown_modality_is_named_with_the_known_ones(text):
    with pytest.raises(ValueError, match=r"unknown modality '.+'; known: \['behavior', 'image'"):
        parse_modalities(text)


def test_ids_are_always_on_and_switched_off_modalities_are_not():
    config = TrainConfig(modalities=parse_modalities("text"))
    assert config.uses(Modality.ID) and config.uses(Modality.TEXT)
    assert not config.uses(Modality.IMAGE)
    assert TrainConfig(modalities=frozenset()).uses(Modality.ID)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs must be >= 1, got 0"),
        ("batch_size", -1, "batch_size must be >= 1, got -1"),
        ("embedding_dim", 0, "embedding_dim must be >= 1"),
        ("top_k", 0, "top_k must be >= 1"),
        ("checkpoint_every_steps", 0, "checkpoint_every_steps must be >= 1"),
        ("learning_rate", 0.0, "learning_rate must be > 0, got 0.0"),
        ("learning_rate", float("nan"), "learning_rate must be > 0, got nan"),
        ("ranking_weight", -0.1, "ranking_weight must be >= 0, got -0.1"),
        ("modalities", frozenset({Modality.ID}), "cannot be switched"),
    ],
)
def test_invalid_config_names_the_field_and_value(field, value, message):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}") as raised:
        TrainConfig(**{field: value})
    assert message in str(raised.value)


def test_defaults_are_valid_and_frozen():
    config = TrainConfig()
    assert config.modalities == ALL_MODALITIES and config.ranking_weight == 0.0  # head off
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 5  # type: ignore[misc]


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_user_id_dropout_must_be_a_share_below_one(value):
    with pytest.raises(ValueError, match="user_id_dropout"):
        TrainConfig(user_id_dropout=value)


def test_query_content_is_any_query_side_modality():
    assert TrainConfig().query_content
    assert TrainConfig(modalities=parse_modalities("text")).query_content
    assert not TrainConfig(modalities=parse_modalities("image")).query_content
    assert not TrainConfig(modalities=frozenset()).query_content
