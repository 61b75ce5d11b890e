"""I/O shell of the report stage: read the run's artifacts, compute, write the HTML and Markdown.

Reads the ingest output (manifest, quality, tables), the transform output (serving requests,
raw catalog), the trained model (signatures, embeddings, history, manifest) and the evaluation
and blessing documents; the pure modules do the rest. A model that cannot be loaded leaves the
Users and Recommendations sections with the reason instead of failing the page.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.evaluate.documents import (
    BlessingDocument,
    MetricsDocument,
    read_blessing,
    read_metrics,
)
from components.ingest import layout
from components.report import charts, contributions, personas, plots, sections
from components.report.config import ReportConfig
from components.report.html import esc, render_page
from components.report.page import render_markdown, render_markdown_extras
from components.report.thumbnails import thumbnail_uri
from components.train import outputs as train_outputs
from components.train.signatures import (
    CANDIDATE_EMBEDDING_SIGNATURE,
    EMBEDDING,
    QUERY_EMBEDDING_SIGNATURE,
)
from components.transform import outputs
from schemas import EVENTS, ITEMS, REVIEWS, USER_RELATIONS, feeds
from schemas import features as fs
from schemas.tables import (
    BRAND,
    CATEGORY,
    DST_USER,
    IMAGE_BYTES,
    IMAGE_EMBEDDING,
    IMAGE_URI,
    ITEM_ID,
    PRICE,
    QUERY,
    SRC_USER,
    TEXT,
    TITLE,
    TS,
    USER_ID,
)

logger = logging.getLogger(__name__)

# query_embedding . candidate_embedding must reproduce the serving index's scores (float32).
SCORE_TOLERANCE = 1e-3


def _read_json(path: str, *, required: bool = True) -> dict:
    if not required and not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _events(data_dir: str) -> dict[str, pa.Table]:
    return {s: layout.read_table(data_dir, EVENTS.name, s) for s in layout.TIME_SPLITS}


def _lists_by_user(users: pa.Array, values: pa.Array) -> dict[str, list]:
    out: dict[str, list] = {}
    for u, v in zip(users.to_pylist(), values.to_pylist(), strict=True):
        if v is not None:
            out.setdefault(u, []).append(v)
    return out


def _user_facts(data_dir: str, train_events: pa.Table, items: pa.Table) -> dict[str, Mapping]:
    """Per user: categories, brands, prices of touched items, own words, events, degree."""
    joined = train_events.select([USER_ID, ITEM_ID, QUERY]).join(
        items.select([ITEM_ID, CATEGORY, BRAND, PRICE]), ITEM_ID, join_type="left outer"
    )
    users = joined[USER_ID]
    reviews = layout.read_table(data_dir, REVIEWS.name, layout.TRAIN)
    words: dict[str, list[str]] = {}
    for table, column in ((reviews, TEXT), (train_events, QUERY)):
        for u, text in zip(table[USER_ID].to_pylist(), table[column].to_pylist(), strict=True):
            if text:
                words.setdefault(u, []).extend(personas.tokenize(text))
    relations = layout.read_table(data_dir, USER_RELATIONS.name, layout.ALL)
    neighbours: dict[str, set[str]] = {}
    for a, b in zip(relations[SRC_USER].to_pylist(), relations[DST_USER].to_pylist(), strict=True):
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    counts = pc.value_counts(train_events[USER_ID].combine_chunks())
    return {
        "categories_of": _lists_by_user(users, joined[CATEGORY]),
        "brands_of": _lists_by_user(users, joined[BRAND]),
        "prices_of": _lists_by_user(users, joined[PRICE]),
        "words_of": words,
        "events_of": dict(
            zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
        ),
        "degree_of": {u: len(n) for u, n in neighbours.items()},
    }


def _data_charts(manifest: Mapping, events: Mapping[str, pa.Table], items: pa.Table) -> tuple:
    counts = pc.value_counts(events[layout.TRAIN][ITEM_ID].combine_chunks())
    curve = charts.popularity_curve(counts.field("counts").to_numpy(), catalog_size=items.num_rows)
    stamps = np.concatenate(
        [t[TS].cast(pa.int64()).to_numpy().astype("datetime64[us]") for t in events.values()]
    )
    days, per_day = charts.daily_counts(stamps)
    cutoffs = {
        "validation start": manifest.get("validation_start") or "",
        "train end": manifest.get("train_end", ""),
        "eval end": manifest.get("eval_end", ""),
    }
    uris = {
        "quarantine": plots.quarantine_chart(charts.quarantine_matrix(manifest)),
        "timeline": plots.timeline_chart(days, per_day, cutoffs),
        "popularity": plots.popularity_chart(curve),
    }
    return curve, uris


class ItemLookup(dict):
    """item id -> (title, thumbnail data URI or None), thumbnails encoded on first use.

    An item without a title (all of Ciao's) is named by its category, in brackets.
    """

    def __init__(self, items: pa.Table, *, size: int) -> None:
        super().__init__()
        self._raw = {
            row[ITEM_ID]: (
                row[TITLE] or (f"[{row[CATEGORY]}]" if row[CATEGORY] else ""),
                row[IMAGE_BYTES],
            )
            for row in items.select([ITEM_ID, TITLE, CATEGORY, IMAGE_BYTES]).to_pylist()
        }
        self._size = size

    def __missing__(self, item: str) -> tuple[str, str | None]:
        title, image = self._raw.get(item, ("", None))
        self[item] = (title, thumbnail_uri(image, size=self._size))
        return self[item]


def _history_tiles(request: Mapping, lookup: Mapping, *, limit: int) -> list[sections.Tile]:
    """Distinct recent items of one request row, newest first, with their event types."""
    seen: dict[str, tuple[list[str], float]] = {}
    for item, kind, age in zip(
        request[fs.HIST_ITEM_IDS],
        request[fs.HIST_EVENT_TYPES],
        request[fs.HIST_AGE_DAYS],
        strict=True,
    ):
        if item == fs.PAD:
            continue
        kinds, _ = seen.setdefault(item, ([], age))
        if kind not in kinds:
            kinds.append(kind)
    tiles = []
    for item, (kinds, age) in list(seen.items())[:limit]:
        title, thumb = lookup[item]
        tiles.append(
            sections.Tile(item, title, thumb, (f"{', '.join(kinds)} · {age:.0f} d before",))
        )
    return tiles


def _recommendation_cards(
    model: object,
    sample: list[tuple[str, int]],
    *,
    requests: pa.Table,
    catalog: pa.Table,
    seen: Mapping[str, set[str]],
    lookup: Mapping,
    modalities: list,
    config: ReportConfig,
) -> tuple[list[sections.UserCard], float]:
    if not sample:
        return [], 0.0
    position = {u: i for i, u in enumerate(requests[USER_ID].to_pylist())}
    sample = [(u, c) for u, c in sample if u in position]
    rows = requests.take(pa.array([position[u] for u, _ in sample], type=pa.int64()))
    query_feed = feeds.to_feed(rows, fs.Side.QUERY)
    top_ids, top_scores = model.top_k(query_feed)
    item_position = {
        i.decode() if isinstance(i, bytes) else i: n
        for n, i in enumerate(catalog[ITEM_ID].combine_chunks().flatten().to_pylist())
    }
    picks: list[list[tuple[str, float]]] = []
    for (user, _), ids, scores in zip(sample, top_ids, top_scores, strict=True):
        kept = [
            (i, float(s))
            for i, s in zip(ids, scores, strict=True)
            if i not in seen.get(user, set()) and i in item_position
        ]
        picks.append(kept[: config.recommendations])
    pair_users = [u for u, recs in enumerate(picks) for _ in recs]
    if not pair_users:  # nothing left to recommend once history is removed
        return [], 0.0
    # Only the recommended items' rows: the catalog may be far larger than the sample needs.
    candidate_feed = feeds.to_feed(
        catalog.take(pa.array([item_position[i] for recs in picks for i, _ in recs], pa.int64())),
        fs.Side.CANDIDATE,
    )
    pair_items = list(range(len(pair_users)))
    scores, drops = contributions.score_drops(
        embed_queries=model.embed_queries,
        embed_candidates=model.embed_candidates,
        queries=feeds.take(query_feed, pair_users),
        candidates=feeds.take(candidate_feed, pair_items),
        modalities=modalities,
    )
    served = np.array([s for recs in picks for _, s in recs], dtype=np.float64)
    gap = float(np.abs(served - scores).max()) if len(served) else 0.0
    if gap > SCORE_TOLERANCE:
        # The contributions would explain other scores than the ones served: say so loudly.
        logger.warning("report scores differ from serving max_gap=%.4g", gap)
    cards, pair = [], 0
    for (user, cluster), recs, request in zip(sample, picks, rows.to_pylist(), strict=True):
        tiles = []
        for item, _ in recs:
            here = {m: float(drops[m][pair]) for m in modalities}
            top = contributions.top_modality(here)
            title, thumb = lookup[item]
            tiles.append(
                sections.Rec(
                    item,
                    title,
                    thumb,
                    float(scores[pair]),
                    None if top is None else top.value,
                    {m.value: d for m, d in here.items()},
                )
            )
            pair += 1
        history = _history_tiles(request, lookup, limit=config.history)
        cards.append(sections.UserCard(user, cluster, history, tiles))
    return cards, gap


def score_note(gap: float) -> str:
    """What the page says of its scores against the serving model's (``gap``: largest diff)."""
    note = (
        "Items the user interacted with before the cut-off are not recommended again (as in "
        "evaluation). "
    )
    if gap <= SCORE_TOLERANCE:
        return note + (
            "Scores recomputed from the query and candidate embedding signatures match the "
            f"serving index's within {gap:.2g}."
        )
    return note + (
        "The score shown is query . candidate embedding; the served ranking adds terms the "
        f"embeddings do not carry (largest difference here {gap:.3g}), so the order can differ "
        "from the scores shown, and the drops explain the embedding part of the score only."
    )


def _model_sections(
    *,
    model_dir: str,
    examples_dir: str,
    train_events: pa.Table,
    items: pa.Table,
    facts: Mapping[str, Mapping],
    train_manifest: Mapping,
    config: ReportConfig,
) -> tuple[dict[str, str], dict[str, int], list[personas.Persona]]:
    """The Users and Recommendations sections (or the reason they cannot be drawn)."""
    from components.exported_model import ExportedModel, ModelUnavailable

    k = config.k_anonymity
    path = train_outputs.user_embeddings_path(model_dir)
    if not os.path.isfile(path):
        why = f"<p>No user embeddings at {path}: the model step did not finish.</p>"
        return {"users": why, "recommendations": why}, {}, []
    table = pq.read_table(path)
    users = table[USER_ID].to_pylist()
    embeddings = np.asarray(table[EMBEDDING].to_pylist(), dtype=np.float32)
    n_clusters = personas.cluster_count(len(users), wanted=config.clusters, k=k)
    clustering = personas.cluster_users(embeddings, clusters=n_clusters, seed=config.seed)
    clusters_of = dict(zip(users, clustering.labels.tolist(), strict=True))
    catalog_prices = [p for p in items[PRICE].to_pylist() if p is not None]
    found = personas.build_personas(
        clusters_of,
        **facts,
        price_edges=personas.tertiles(catalog_prices),
        k=k,
        top_n=config.top_values,
    )
    shown = [p.cluster for p in found if p.shown]
    draw = np.arange(len(users))
    if len(users) > config.max_map_users:
        draw = np.random.default_rng(config.seed).choice(
            len(users), config.max_map_users, replace=False
        )
    map_uri = plots.user_map(
        clustering.coords[draw],
        clustering.labels[draw],
        shown=shown,
        explained=clustering.explained,
        k=k,
    )
    users_html, users_hidden = sections.users_section(
        found,
        map_uri=map_uri,
        users=len(users),
        explained=clustering.explained,
        k=k,
        priced_items=len(catalog_prices),
    )
    sample = personas.sample_users(
        clusters_of, shown, per_cluster=config.users_per_cluster, seed=config.seed
    )
    try:
        model = ExportedModel(train_outputs.serving_dir(model_dir))
        model.require(QUERY_EMBEDDING_SIGNATURE, CANDIDATE_EMBEDDING_SIGNATURE)
    except ModelUnavailable as e:
        return (
            {"users": users_html, "recommendations": f"<p>{esc(e)}</p>"},
            {"users": users_hidden},
            found,
        )
    seen: dict[str, set[str]] = {}
    for u, i in zip(
        train_events[USER_ID].to_pylist(), train_events[ITEM_ID].to_pylist(), strict=True
    ):
        seen.setdefault(u, set()).add(i)
    cards, gap = _recommendation_cards(
        model,
        sample,
        requests=pq.read_table(outputs.requests_path(examples_dir, layout.EVAL)),
        catalog=pq.read_table(outputs.raw_catalog_path(examples_dir)),
        seen=seen,
        lookup=ItemLookup(items, size=config.thumbnail_px),
        modalities=contributions.modalities_in_model(
            train_manifest.get("config", {}).get("modalities", [])
        ),
        config=config,
    )
    recs_html, _ = sections.recommendations_section(cards, note=score_note(gap))
    return {"users": users_html, "recommendations": recs_html}, {"users": users_hidden}, found


def run(
    *,
    data_dir: str,
    metrics_path: str,
    blessing_path: str,
    out_path: str,
    examples_dir: str | None = None,
    model_dir: str | None = None,
    html_path: str | None = None,
    config: ReportConfig | None = None,
    pushed_version: str | None = None,
) -> str:
    """Write the run's Markdown summary and, given the model and transform output, its page.

    Returns the Markdown text.

    Args:
        data_dir: Ingest output.
        metrics_path: Evaluate's metrics JSON.
        blessing_path: Evaluate's blessing JSON.
        out_path: Markdown output file.
        examples_dir: Transform output (serving requests, raw catalog).
        model_dir: Train output of the candidate.
        html_path: HTML output file (written only with ``examples_dir`` and ``model_dir``).
        config: Report settings (k-anonymity, clusters, samples).
        pushed_version: The version pushed in this run, or None.
    """
    config = config or ReportConfig()
    manifest = _read_json(os.path.join(data_dir, layout.MANIFEST))
    evaluation = read_metrics(metrics_path)
    blessing = read_blessing(blessing_path)
    text = render_markdown(
        data=manifest, metrics=evaluation, blessing=blessing, pushed_version=pushed_version
    )
    train_manifest, found = {}, []
    if html_path and examples_dir and model_dir:
        train_manifest = _read_json(train_outputs.manifest_path(model_dir), required=False)
        page, found = _render_html(
            data_dir=data_dir,
            examples_dir=examples_dir,
            model_dir=model_dir,
            manifest=manifest,
            evaluation=evaluation,
            blessing=blessing,
            train_manifest=train_manifest,
            config=config,
            pushed_version=pushed_version,
        )
        _write(html_path, page)
        logger.info("report page written path=%s bytes=%d", html_path, len(page))
    text += render_markdown_extras(train=train_manifest, personas=found, k=config.k_anonymity)
    _write(out_path, text)
    return text


def _image_counts(items: pa.Table) -> dict[str, int]:
    """Catalog items with image bytes, with an image embedding, and with only an image URL."""
    has_bytes = pc.is_valid(items[IMAGE_BYTES])
    has_embedding = pc.is_valid(items[IMAGE_EMBEDDING])
    uri_only = pc.and_(pc.is_valid(items[IMAGE_URI]), pc.invert(pc.or_(has_bytes, has_embedding)))
    return {
        "bytes": pc.sum(has_bytes.cast(pa.int64())).as_py() or 0,
        "embedding": pc.sum(has_embedding.cast(pa.int64())).as_py() or 0,
        "uri": pc.sum(uri_only.cast(pa.int64())).as_py() or 0,
    }


def _best_epoch(train_manifest: Mapping) -> int | None:
    """The epoch count the trainer chose on the validation window, when it chose one."""
    chosen = train_manifest.get("selection")
    if isinstance(chosen, Mapping) and isinstance(chosen.get("best_epoch"), int):
        return chosen["best_epoch"]
    return None


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _render_html(
    *,
    data_dir: str,
    examples_dir: str,
    model_dir: str,
    manifest: Mapping,
    evaluation: MetricsDocument,
    blessing: BlessingDocument,
    train_manifest: Mapping,
    config: ReportConfig,
    pushed_version: str | None = None,
) -> tuple[str, list[personas.Persona]]:
    k = config.k_anonymity
    quality = _read_json(os.path.join(data_dir, layout.QUALITY_JSON), required=False)
    events = _events(data_dir)
    items = layout.read_table(data_dir, ITEMS.name, layout.ALL)
    curve, data_uris = _data_charts(manifest, events, items)
    body, hidden = {}, {}
    body["data"], hidden["data"] = sections.data_section(
        manifest, quality, popularity=curve, charts=data_uris, k=k
    )
    history = _read_json(train_outputs.history_path(model_dir), required=False)
    losses, metrics = charts.history_series(history)
    validation = charts.validation_series(history)
    best_epoch = _best_epoch(train_manifest)
    train_uris = {"losses": plots.history_chart(losses, title="loss per epoch")}
    if metrics:
        train_uris["metrics"] = plots.history_chart(metrics, title="metrics per epoch")
    if validation:
        train_uris["validation"] = plots.history_chart(
            validation, title="validation window, per epoch", mark_epoch=best_epoch
        )
    body["training"], _ = sections.training_section(
        losses=losses,
        metrics=metrics,
        train=train_manifest,
        charts=train_uris,
        validation=validation,
        best_epoch=best_epoch,
        images=_image_counts(items),
    )
    ks = evaluation.protocol.get("ks", [10, 20, 50, 100])
    recall = plots.metrics_chart(evaluation.models, metric="recall", ks=ks)
    body["quality"], hidden["quality (slices)"] = sections.quality_section(
        evaluation, blessing, charts={"recall": recall}, k=k, pushed_version=pushed_version
    )
    facts = _user_facts(data_dir, events[layout.TRAIN], items)
    model_body, model_hidden, found = _model_sections(
        model_dir=model_dir,
        examples_dir=examples_dir,
        train_events=events[layout.TRAIN],
        items=items,
        facts=facts,
        train_manifest=train_manifest,
        config=config,
    )
    body.update(model_body)
    hidden.update({f"{s} (clusters)": n for s, n in model_hidden.items()})
    body["privacy"] = sections.privacy_section(k=k, suppressed=hidden)
    verdict = "blessed" if blessing.blessed else "not blessed"
    subtitle = (
        f"data {manifest.get('input', '?')} · train before {manifest.get('train_end', '?')} · "
        f"{evaluation.eval_users:,} eval users · gate: {verdict}"
    )
    return render_page(title="shoprec run report", subtitle=subtitle, sections=body), found
