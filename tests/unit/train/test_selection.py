import numpy as np
import pyarrow as pa

from components.train import selection
from schemas import features as fs
from schemas.tables import ITEM_ID, USER_ID

CATALOG = np.array(["a", "b", "c", "d"], dtype=object)


def _examples(rows):
    users, items, days = zip(*rows, strict=True)
    wrap = lambda values, t: pa.array([[v] for v in values], pa.large_list(t))  # noqa: E731
    return pa.table({
        USER_ID: wrap(users, pa.large_binary()), ITEM_ID: wrap(items, pa.large_binary()),
        fs.EVENT_DAY: wrap(days, pa.float32()),
    })  # fmt: skip


def test_validation_set_splits_each_users_first_interactions_at_the_start():
    examples = _examples([
        (b"u1", b"a", 1.0), (b"u1", b"b", 5.0), (b"u2", b"c", 6.0), (b"u3", b"a", 2.0),
        (b"u1", b"zz", 6.0), (b"u4", b"d", 11.0),
    ])  # fmt: skip
    vset = selection.validation_set(examples, CATALOG, start_day=5.0, end_day=10.0)
    # u1: history a, target b (zz is not in the catalog); u2: no history, target c (judged);
    # u3: nothing in the window; u4: only after its end (the eval window: never read).
    assert vset.users == ["u1", "u2"]
    assert vset.history == [{0}, set()]
    assert vset.targets == [{1}, {2}]


def test_rank_positions_remove_history_and_break_ties_by_position():
    scores = np.array([[0.9, 0.5, 0.5, 0.1]])
    assert selection.rank_positions(scores, [{0}], depth=2) == [[1, 2]]


def test_validation_metrics_by_hand():
    vset = selection.ValidationSet(users=["u1", "u2"], history=[{0}, set()], targets=[{1}, {3}])
    scores = np.array([[0.0, 1.0, 0.5, 0.2], [0.0, 1.0, 0.5, 0.2]])
    metrics = selection.blended_metrics(
        lambda rows: (scores[rows], None), vset, ks=(1, 2), weights=(0.0,)
    )[0.0]
    assert metrics["recall@1"] == 0.5  # u1 hits b first; u2's d is last
    assert metrics["recall@2"] == 0.5


class _Model:
    stop_training = False


def test_epoch_selection_keeps_the_best_epoch_and_stops_after_patience():
    figures = iter([0.1, 0.3, 0.2, 0.25, 0.4])
    chooser = selection.EpochSelection(
        lambda: {"recall@20": next(figures)}, metric="recall@20", patience=2
    )
    chooser.set_model(_Model())
    for epoch in range(4):
        chooser.on_epoch_end(epoch)
        if chooser.model.stop_training:
            break
    assert chooser.best_epoch == 2
    assert epoch == 3  # epochs 3 and 4 did not beat epoch 2: stopped after the 4th
    assert [c["recall@20"] for c in chooser.curve] == [0.1, 0.3, 0.2, 0.25]


def test_a_finished_selection_is_read_back_only_for_the_same_key(tmp_path):
    selection.write_selection(str(tmp_path), {"key": {"seed": 1}, "best_epoch": 3})
    assert selection.read_selection(str(tmp_path), {"seed": 1})["best_epoch"] == 3
    assert selection.read_selection(str(tmp_path), {"seed": 2}) is None


def test_blended_metrics_score_once_per_batch_and_rank_every_weight():
    vset = selection.ValidationSet(users=["u1", "u2"], history=[{0}, set()], targets=[{1}, {3}])
    base = np.array([[0.0, 1.0, 0.5, 0.2], [0.0, 1.0, 0.5, 0.2]])
    extra = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])  # lifts u2's target d
    calls = []

    def score(rows):
        calls.append(rows.tolist())
        return base[rows], extra[rows]

    figures = selection.blended_metrics(score, vset, ks=(1,), weights=(0.0, 0.5, 2.0))
    assert calls == [[0, 1]]
    assert figures[0.0]["recall@1"] == 0.5  # as without the term
    assert figures[0.5]["recall@1"] == 0.5  # 0.2 + 0.5 < 1.0: d still second for u2
    assert figures[2.0]["recall@1"] == 1.0
    assert selection.best_blend(figures, "recall@1") == (2.0, figures[2.0])
    # No blend term: only the weight 0 is ranked.
    assert list(selection.blended_metrics(lambda r: (base[r], None), vset, ks=(1,),
                                          weights=(0.0, 2.0))) == [0.0]  # fmt: skip


def test_best_blend_breaks_ties_by_the_smallest_weight():
    figures = {0.0: {"recall@20": 0.3}, 1.0: {"recall@20": 0.4}, 4.0: {"recall@20": 0.4}}
    assert selection.best_blend(figures, "recall@20")[0] == 1.0
