"""The page's catalogue: how items are named, searched and pictured (mmgraph.serve.catalogue)."""

import pandas as pd
import pytest

from encoders.media import MediaError
from mmgraph.serve.catalogue import Catalogue


def _items() -> pd.DataFrame:
    return pd.DataFrame({"item_id": [10, 20, 30], "title": ["Heat", "The Heat", "Casino"],
                         "year": [1995, 2013, None], "photo": ["a.png", "../outside.png", ""]})


def test_items_are_named_by_title_else_by_the_text_template_else_by_id():
    assert [d["name"] for d in Catalogue(_items()).describe([30, 10])] == ["Casino", "Heat"]
    untitled = _items().drop(columns="title")
    named = Catalogue(untitled, template="made in {year}").describe([10, 30])
    assert [d["name"] for d in named] == ["made in 1995", "made in "]
    assert Catalogue(untitled).describe([20])[0]["name"] == "20"
    assert Catalogue(_items()).describe([99]) == [
        {"item_id": 99, "name": "99", "attributes": {}, "image": None}]  # added since


def test_attributes_leave_out_the_name_media_and_empty_cells():
    catalogue = Catalogue(_items(), image_column="photo", hidden=("photo",))
    assert catalogue.describe([10])[0]["attributes"] == {"year": "1995"}
    assert catalogue.describe([30])[0]["attributes"] == {}


def test_search_finds_names_that_start_with_the_query_first():
    catalogue = Catalogue(_items())
    assert catalogue.search("heat", 10) == [10, 20]
    assert catalogue.search("HEAT", 1) == [10]
    assert catalogue.search("at", 10) == [10, 20]
    assert catalogue.search("  ", 10) == []


def test_images_are_served_from_the_media_root_only(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.png").write_bytes(b"png")
    (tmp_path / "outside.png").write_bytes(b"secret")
    catalogue = Catalogue(_items(), image_column="photo", media_root=tmp_path / "media")
    described = catalogue.describe([10, 20, 30])
    assert [d["image"] for d in described] == ["/browse/image/0", "/browse/image/1", None]
    assert catalogue.image_path(0) == (tmp_path / "media" / "a.png").resolve()
    with pytest.raises(MediaError, match="outside the media root"):
        catalogue.image_path(1)
    for row in (2, 3, -1):  # an empty cell, past the table
        with pytest.raises(MediaError, match="has no image"):
            catalogue.image_path(row)
    assert Catalogue(_items(), image_column="photo").describe([10])[0]["image"] is None
