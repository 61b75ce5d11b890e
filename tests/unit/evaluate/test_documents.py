"""The metrics and blessing documents: written as read, other versions or fields refused."""

import json

import pytest

from components.evaluate.documents import (
    BLESSING_SCHEMA,
    BlessingDocument,
    DocumentError,
    MetricsDocument,
    read_blessing,
    read_metrics,
    write,
)


def test_a_written_document_reads_back_equal(tmp_path):
    metrics = MetricsDocument(eval_users=3, models={"candidate": {"recall@10": 0.25}})
    blessing = BlessingDocument(blessed=True, reasons=["r1"], compared=["recall@50"])
    write(str(tmp_path / "m.json"), metrics)
    write(str(tmp_path / "b.json"), blessing)
    assert read_metrics(str(tmp_path / "m.json")).as_dict() == metrics.as_dict()
    again = read_blessing(str(tmp_path / "b.json"))
    assert again.as_dict() == blessing.as_dict() and again.reasons == ["r1"]


def test_another_version_or_other_fields_are_refused_with_the_file_named(tmp_path):
    path = tmp_path / "blessing.json"
    doc = BlessingDocument(blessed=True).as_dict()
    path.write_text(json.dumps(doc | {"blessing_schema": BLESSING_SCHEMA - 1}))
    with pytest.raises(DocumentError, match=rf"{path}: blessing schema 2, this code reads 3"):
        read_blessing(str(path))
    path.write_text(json.dumps({k: v for k, v in doc.items() if k != "reasons"} | {"x": 1}))
    with pytest.raises(
        DocumentError, match=r"without fields \['reasons'\].*unknown fields \['x'\]"
    ):
        read_blessing(str(path))
    path.write_text("[]")
    with pytest.raises(DocumentError, match="not a JSON object"):
        read_blessing(str(path))
    with pytest.raises(DocumentError, match="cannot read the metrics"):
        read_metrics(str(tmp_path / "missing.json"))
