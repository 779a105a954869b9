import pandas as pd
import pytest
import torch

from encoders import multi_hot
from mmgraph.errors import ConfigError


def test_multi_hot_over_columns_and_separated_tokens():
    items = pd.DataFrame({"genres": ["Comedy|Drama", "Drama", None], "year": [1995, 1995, 1996]})
    features = multi_hot(items, ["genres", "year"])
    # vocabulary (sorted): genres=Comedy, genres=Drama, year=1995, year=1996
    expected = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=torch.float32)
    assert torch.allclose(features, torch.nn.functional.normalize(expected, dim=1))


def test_unknown_column_is_a_config_error():
    with pytest.raises(ConfigError, match=r"\['plot'\]"):
        multi_hot(pd.DataFrame({"a": [1]}), ["plot"])


def test_list_cells_from_parquet_are_their_elements(tmp_path):
    """A multi-valued column stored as a Parquet list gives the same features as the
    separated text form (not one token such as "['Comedy' 'Drama']")."""
    listed = pd.DataFrame({"genres": [["Comedy", "Drama"], ["Drama"], None]})
    listed.to_parquet(tmp_path / "items.parquet")
    from_parquet = pd.read_parquet(tmp_path / "items.parquet")  # cells are numpy arrays
    text = pd.DataFrame({"genres": ["Comedy|Drama", "Drama", None]})
    assert torch.equal(multi_hot(from_parquet, ["genres"]), multi_hot(text, ["genres"]))
    assert multi_hot(from_parquet, ["genres"]).shape == (3, 2)
