"""An exported model restricted to today's catalog: what push keeps serving on a refused night.

The model in service holds its catalog as constants (the items it was trained with). After a
night whose candidate the gate refused, that model keeps serving, and without this it would go
on recommending items that have been delisted since. ``restrict_export`` loads the exported
SavedModel and saves a new one around it, with the same weights and towers, whose signatures
only know the items still on sale:

- ``serving_default``: the inner ``catalog_scores`` gathered to the kept items, the request's
  own history (``hist_item_ids``) excluded, top-k. At most ``kept - history length`` items are
  served (k capped), so an excluded item is never padded into the answer;
- ``catalog_scores`` / ``catalog_items``: the kept columns, in the inner model's order;
- ``query_embedding``, ``candidate_embedding``, ``ranking``: the inner model's, unchanged.

So the kept model ranks exactly as the gate re-judged the model in service on today's catalog
(``components.evaluate.exported``: delisted items never ranked). It needs the inner export's
``catalog_scores`` and ``catalog_items`` signatures (exports since the whole-catalog scorer);
an older export raises ``CannotRestrict``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import numpy as np
import tensorflow as tf

from components.push.errors import PushError
from components.train import signatures as sig
from schemas import features as fs


class CannotRestrict(PushError):
    """The exported model lacks what a restriction to today's catalog needs."""


@dataclasses.dataclass(frozen=True)
class Restricted:
    """What ``restrict_export`` wrote.

    Attributes:
        kept: Items of the inner catalog still on sale (served), in catalog order.
        delisted: Items of the inner catalog no longer on sale (never served).
        k: Items served per request.
    """

    kept: list[str]
    delisted: list[str]
    k: int


class _CatalogView(tf.Module):
    """The inner export with its catalog cut to ``kept`` (module docstring)."""

    def __init__(self, inner: tf.Module, items: list[str], kept: list[str], k: int) -> None:
        super().__init__(name="catalog_view")
        self.inner = inner
        position = {item: i for i, item in enumerate(items)}
        self.columns = tf.constant([position[i] for i in kept], tf.int32)
        self.item_ids = tf.constant(kept, tf.string)
        self.k = k
        self.index = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(self.item_ids, tf.range(len(kept), dtype=tf.int64)),
            default_value=-1,
        )
        spec = inner.signatures[sig.CATALOG_SCORES_SIGNATURE].structured_input_signature[1]
        self.recommend = tf.function(self._recommend, input_signature=[spec])
        self.catalog_scores = tf.function(self._catalog_scores, input_signature=[spec])
        self.catalog_items = tf.function(self._catalog_items, input_signature=[])

    def _kept_scores(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        scores = self.inner.signatures[sig.CATALOG_SCORES_SIGNATURE](**raw)[sig.OUTPUT_SCORES]
        return tf.gather(scores, self.columns, axis=1)

    def _recommend(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        scores = self._kept_scores(raw)
        seen = self.index.lookup(raw[fs.HIST_ITEM_IDS])  # [B, H], -1 for padding or delisted
        rows = tf.broadcast_to(
            tf.range(tf.shape(seen, out_type=tf.int64)[0])[:, None],
            tf.shape(seen, out_type=tf.int64),
        )
        where = tf.boolean_mask(tf.stack([rows, seen], axis=-1), seen >= 0)
        mask = tf.scatter_nd(
            where, tf.ones(tf.shape(where)[:1], tf.bool), tf.shape(scores, out_type=tf.int64)
        )
        scores = tf.where(mask, tf.constant(-np.inf, scores.dtype), scores)
        top, index = tf.math.top_k(scores, k=self.k)
        return {sig.OUTPUT_ITEM_IDS: tf.gather(self.item_ids, index), sig.OUTPUT_SCORES: top}

    def _catalog_scores(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {sig.OUTPUT_SCORES: self._kept_scores(raw)}

    def _catalog_items(self) -> dict[str, tf.Tensor]:
        return {sig.OUTPUT_ITEM_IDS: self.item_ids}


def restrict_export(serving_dir: str, on_sale: Collection[str], out_dir: str) -> Restricted:
    """Save at ``out_dir`` the export of ``serving_dir`` restricted to the items ``on_sale``.

    Args:
        serving_dir: An exported SavedModel (a train output's ``serving/``).
        on_sale: Today's catalog (item ids).
        out_dir: Where the restricted SavedModel goes (must not exist).

    Returns:
        The kept and delisted items and the served k.

    Raises:
        CannotRestrict: no ``catalog_scores``/``catalog_items`` signature, or nothing left to
            serve (every item delisted, or no more than a history's length).
    """
    try:
        inner = tf.saved_model.load(serving_dir)
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise CannotRestrict(f"{serving_dir}: not a loadable SavedModel ({e})") from e
    missing = [
        s
        for s in (sig.SERVING_SIGNATURE, sig.CATALOG_SCORES_SIGNATURE, sig.CATALOG_ITEMS_SIGNATURE)
        if s not in inner.signatures
    ]
    if missing:
        raise CannotRestrict(
            f"{serving_dir}: no {missing} signature (an export older than the whole-catalog "
            "scorer): it cannot be restricted to today's catalog; push a new model or roll back"
        )
    items = [b.decode() for b in inner.signatures[sig.CATALOG_ITEMS_SIGNATURE]()[
        sig.OUTPUT_ITEM_IDS].numpy()]  # fmt: skip
    wanted = set(on_sale)
    kept = [i for i in items if i in wanted]
    delisted = [i for i in items if i not in wanted]
    served = inner.signatures[sig.SERVING_SIGNATURE].structured_outputs[sig.OUTPUT_ITEM_IDS]
    spec = inner.signatures[sig.CATALOG_SCORES_SIGNATURE].structured_input_signature[1]
    history = int(spec[fs.HIST_ITEM_IDS].shape[-1])
    k = min(int(served.shape[-1]), len(kept) - history)
    if k < 1:
        raise CannotRestrict(
            f"{serving_dir}: {len(kept)} of its {len(items)} items are still on sale, too few "
            f"to serve past a history of {history}: push a new model"
        )
    view = _CatalogView(inner, items, kept, k)
    signatures = {
        sig.SERVING_SIGNATURE: view.recommend,
        sig.CATALOG_SCORES_SIGNATURE: view.catalog_scores,
        sig.CATALOG_ITEMS_SIGNATURE: view.catalog_items,
    }
    for name in (
        sig.QUERY_EMBEDDING_SIGNATURE,
        sig.CANDIDATE_EMBEDDING_SIGNATURE,
        sig.RANKING_SIGNATURE,
    ):
        if name in inner.signatures:
            signatures[name] = inner.signatures[name]
    tf.saved_model.save(view, out_dir, signatures=signatures)
    return Restricted(kept=kept, delisted=delisted, k=k)
