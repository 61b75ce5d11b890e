"""The Amazon 2018 adapter on small gzip files written here, in both metadata layouts."""

import gzip
import json
import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from components.sources import adapt, amazon, storage
from schemas import tables

UNCLOSED = '<span class="a-size-medium a-color-secondary"'


def _write_gz(path: Path, records: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return path


def _reviews(asins: list[str]) -> list[dict]:
    return [
        {"reviewerID": f"U{n}", "asin": a, "overall": 4.0, "reviewText": "fine",
         "unixReviewTime": 1_500_000_000 + n}
        for n, a in enumerate(asins)
    ]  # fmt: skip


# Layout 1 (e.g. Gift_Cards): imageURL / imageURLHighRes lists.
URL_LAYOUT = [
    {"asin": "A1", "title": "Birthday Card", "imageURL": ["http://x/a1s.jpg"],
     "imageURLHighRes": ["http://x/a1.jpg"]},
    {"asin": "A2", "title": UNCLOSED, "imageURL": [], "imageURLHighRes": []},
]  # fmt: skip
# Layout 2 (e.g. Luxury_Beauty and others): one ``image`` list, no imageURL fields.
IMAGE_LAYOUT = [
    {"asin": "B1", "title": "Face Cream <br>50 ml", "image": ["http://x/b1.jpg", "http://x/b1b"]},
    {"asin": "B2", "title": UNCLOSED, "image": []},
    {"asin": "B3", "title": "Soap", "image": "http://x/b3.jpg"},
]  # fmt: skip


def _category(folder: Path, category: str, meta: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write_gz(folder / amazon.meta_file(category), meta)
    _write_gz(folder / amazon.reviews_file(category), _reviews([m["asin"] for m in meta]))
    return folder


def _items(out: Path) -> list[dict]:
    return pq.read_table(out / "items" / "part-00000.parquet").to_pylist()


@pytest.mark.parametrize(
    ("category", "meta", "images"),
    [
        ("Gift_Cards", URL_LAYOUT, ["http://x/a1.jpg", None]),
        ("Luxury_Beauty", IMAGE_LAYOUT, ["http://x/b1.jpg", None, "http://x/b3.jpg"]),
    ],
)
def test_any_category_found_in_src_both_image_layouts(tmp_path, caplog, category, meta, images):
    src = _category(tmp_path / "src", category, meta)
    with caplog.at_level(logging.INFO, logger="components.sources.adapt"):
        assert adapt.main(["amazon", "--src", str(src), "--out", str(tmp_path / "out")]) == 0
    items = _items(tmp_path / "out")
    assert [i[tables.IMAGE_URI] for i in items] == images
    # The unclosed tag is markup, not a title.
    assert [i[tables.TITLE] for i in items][1] is None
    assert f"category={category}" in caplog.text
    assert f"with_image_url={sum(u is not None for u in images)}" in caplog.text
    assert "titles_with_markup=" in caplog.text


def test_explicit_paths_and_named_category(tmp_path):
    src = _category(tmp_path / "src", "Luxury_Beauty", IMAGE_LAYOUT)
    _category(src, "Gift_Cards", URL_LAYOUT)
    out = tmp_path / "out"
    with pytest.raises(storage.SourceFileError, match=r"2 categories .*Gift_Cards, Luxury_Beauty"):
        adapt.adapt("amazon", src, out)
    adapt.adapt("amazon", src, out, category="Gift_Cards")
    assert [i[tables.ITEM_ID] for i in _items(out)] == ["A1", "A2"]
    adapt.adapt(
        "amazon",
        None,
        out,
        reviews=src / "Luxury_Beauty_5.json.gz",
        meta=src / "meta_Luxury_Beauty.json.gz",
    )
    assert [i[tables.ITEM_ID] for i in _items(out)] == ["B1", "B2", "B3"]


def test_missing_category_names_what_it_wants_and_what_is_there(tmp_path):
    (tmp_path / "Books_5.json.gz").write_bytes(b"")
    with pytest.raises(storage.SourceFileError) as err:
        adapt.adapt("amazon", tmp_path, tmp_path / "out")
    assert "<Category>_5.json.gz + meta_<Category>.json.gz" in str(err.value)
    assert "Books_5.json.gz" in str(err.value)
    with pytest.raises(storage.SourceFileError, match=r"no Toys_5\.json\.gz"):
        adapt.adapt("amazon", tmp_path, tmp_path / "out", category="Toys")


def test_help_names_the_files_each_source_wants(capsys):
    with pytest.raises(SystemExit):
        adapt.main(["--help"])
    text = capsys.readouterr().out
    assert "<Category>_5.json.gz + meta_<Category>.json.gz" in text
    assert "interactions.csv.gz" in text and "ratings.csv.gz" in text


def test_amazon_options_refused_for_other_sources(tmp_path):
    with pytest.raises(ValueError, match="for amazon"):
        adapt.adapt("ciao", tmp_path, tmp_path / "out", category="Books")


def test_describe_meta_counts_markup_titles_and_image_fields():
    facts = amazon.describe_meta([*URL_LAYOUT, *IMAGE_LAYOUT])
    assert facts["rows"] == 5 and facts["titles_with_markup"] == 3
    assert (facts["field_imageURLHighRes"], facts["field_image"], facts["with_image_url"]) == (
        1,
        2,
        3,
    )
