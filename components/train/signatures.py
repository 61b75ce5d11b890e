"""The exported model's serving contract: its signatures, what each takes and returns.

Declared once here, for the trainer that exports the model (``export``) and for every reader
(evaluate, report, a serving client): standard library and ``schemas.contract`` only, so
importing it pulls in neither TensorFlow nor the training code. Inputs are raw features
(``schemas.features``) of the sides listed; outputs are keyed by the names below.

- ``serving_default``: query features -> ``item_ids`` ``[batch, k]`` (raw ids, best first),
  ``scores`` ``[batch, k]``; never an item of the request's own history (``hist_item_ids``);
- ``catalog_scores``: query features -> ``scores`` ``[batch, I]``, the score of every catalog
  item (nothing excluded), columns in the order ``catalog_items`` gives;
- ``catalog_items``: no input -> ``item_ids`` ``[I]``;
- ``query_embedding``: query features -> ``embedding`` ``[batch, dim]``;
- ``candidate_embedding``: candidate features (image bytes included) -> ``embedding``: a new
  item (cold start) is placed by its content;
- ``ranking`` (only when trained with a ranking head): query + candidate features of (user,
  item) pairs -> ``probability`` ``[batch]`` that the pair converts.

The embedding files beside the SavedModel (``outputs.item_embeddings_path``,
``outputs.user_embeddings_path``) hold one row per id: the id column and ``embedding``
(list<float32>), the same vectors the embedding signatures return.
"""

from __future__ import annotations

from schemas.contract import Side

SERVING_SIGNATURE = "serving_default"
CATALOG_SCORES_SIGNATURE = "catalog_scores"
CATALOG_ITEMS_SIGNATURE = "catalog_items"
QUERY_EMBEDDING_SIGNATURE = "query_embedding"
CANDIDATE_EMBEDDING_SIGNATURE = "candidate_embedding"
RANKING_SIGNATURE = "ranking"

OUTPUT_ITEM_IDS = "item_ids"
OUTPUT_SCORES = "scores"
OUTPUT_PROBABILITY = "probability"
# The output of both embedding signatures, and the vector column of the embedding files.
EMBEDDING = "embedding"

# The raw feature sides each signature takes.
INPUT_SIDES: dict[str, tuple[Side, ...]] = {
    SERVING_SIGNATURE: (Side.QUERY,),
    CATALOG_SCORES_SIGNATURE: (Side.QUERY,),
    CATALOG_ITEMS_SIGNATURE: (),
    QUERY_EMBEDDING_SIGNATURE: (Side.QUERY,),
    CANDIDATE_EMBEDDING_SIGNATURE: (Side.CANDIDATE,),
    RANKING_SIGNATURE: (Side.QUERY, Side.CANDIDATE),
}
