import numpy as np
import pandas as pd
import pytest

from mmgraph.config import ColumnsConfig
from mmgraph.data import load_interactions, load_items, read_table
from mmgraph.errors import DataError


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_round_trip_each_format(tmp_path, tiny_interactions, suffix):
    path = tmp_path / f"inter{suffix}"
    if suffix == ".parquet":
        tiny_interactions.to_parquet(path)
    else:
        tiny_interactions.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    loaded = load_interactions(path)
    expected = tiny_interactions.copy()
    if suffix != ".parquet":  # text ids are read as the strings they are written as
        expected[["user_id", "item_id"]] = expected[["user_id", "item_id"]].astype(str)
    pd.testing.assert_frame_equal(loaded, expected, check_dtype=False)


def test_ids_are_kept_exactly_as_written(tmp_path):
    """007, 7 and 0007 are three users (a numeric parse would merge them); padded ids are
    an error naming the row, not a silent second id."""
    path = tmp_path / "inter.csv"
    path.write_text("user_id,item_id\n007,1\n7,1\n0007,01\n")
    loaded = load_interactions(path, ColumnsConfig(rating=None, timestamp=None))
    assert loaded["user_id"].tolist() == ["007", "7", "0007"]
    assert loaded["item_id"].tolist() == ["1", "1", "01"]
    path.write_text("user_id,item_id\n7,1\n 7,1\n")
    with pytest.raises(DataError, match=r"leading or trailing whitespace in data row\(s\) 2"):
        load_interactions(path, ColumnsConfig(rating=None, timestamp=None))


def test_column_names_are_configurable(tmp_path, tiny_interactions):
    path = tmp_path / "inter.csv"
    tiny_interactions.rename(columns={"user_id": "uid", "item_id": "movie"}).drop(
        columns="timestamp").to_csv(path, index=False)
    loaded = load_interactions(path, ColumnsConfig(user="uid", item="movie", timestamp=None))
    assert list(loaded.columns) == ["user_id", "item_id", "rating"]
    assert loaded["user_id"].tolist() == tiny_interactions["user_id"].astype(str).tolist()


def test_missing_column_names_file_and_column(tmp_path, tiny_interactions):
    path = tmp_path / "inter.csv"
    tiny_interactions.drop(columns="item_id").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"inter\.csv lacks column\(s\) 'item_id' \(item_id\)"):
        load_interactions(path)


def test_rating_and_time_columns_are_optional_unless_named(tmp_path, tiny_interactions):
    """A table of user and item ids alone loads with the default config; a rating or time
    column the config names explicitly must be there."""
    path = tmp_path / "inter.csv"
    tiny_interactions[["user_id", "item_id"]].to_csv(path, index=False)
    assert list(load_interactions(path).columns) == ["user_id", "item_id"]
    with pytest.raises(DataError, match=r"lacks column\(s\) 'rating' \(rating\)"):
        load_interactions(path, ColumnsConfig(rating="rating"))


def test_nan_and_text_ratings_name_rows(tmp_path, tiny_interactions):
    frame = tiny_interactions.astype({"rating": object})
    frame.loc[3, "rating"] = np.nan
    frame.loc[7, "rating"] = "five"
    path = tmp_path / "inter.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'rating' .* row\(s\) 4, 8 "):
        load_interactions(path)


def test_empty_id_names_row(tmp_path, tiny_interactions):
    frame = tiny_interactions.astype({"user_id": object})
    frame.loc[0, "user_id"] = None
    path = tmp_path / "inter.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'user_id' is empty in data row\(s\) 1 "):
        load_interactions(path)


def test_missing_empty_and_unknown_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("user_id,item_id\n")
    with pytest.raises(DataError, match="no data rows"):
        read_table(tmp_path / "header.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match="use .csv, .tsv or .parquet"):
        read_table(tmp_path / "t.xlsx")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="could not be read as parquet"):
        read_table(tmp_path / "bad.parquet")


def test_items_duplicates_are_rejected(tmp_path):
    path = tmp_path / "items.csv"
    pd.DataFrame({"item_id": [1, 2, 2], "title": ["a", "b", "c"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"item id\(s\) \['2'\] more than once"):
        load_items(path)


def test_items_keep_string_ids_and_extra_columns(tmp_path):
    path = tmp_path / "items.parquet"
    pd.DataFrame({"sku": ["a 1", "é2"], "title": ["x", "y"]}).to_parquet(path)
    items = load_items(path, item_column="sku")
    assert items["item_id"].tolist() == ["a 1", "é2"]
    assert "title" in items
