"""Categorical item attributes (genres, year, brand, ...) as L2-normalised multi-hot vectors.

Not a pretrained model: the vocabulary is the set of tokens in the configured columns of the
items table (text cells split on ``separator``; list cells, as Parquet stores multi-valued
columns, are their elements), so features are fitted on the whole table at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mmgraph.errors import ConfigError

__all__ = ["multi_hot", "vocabulary"]


def vocabulary(items: pd.DataFrame, columns: list[str], separator: str = "|") -> list[str]:
    """The sorted ``column=token`` pairs of ``items``: the columns of :func:`multi_hot`."""
    return sorted(set(_token_frame(items, columns, separator)["token"]))


def multi_hot(items: pd.DataFrame, columns: list[str], separator: str = "|",
              fitted: list[str] | None = None) -> torch.Tensor:
    """``[num_items, vocabulary]`` multi-hot over ``column=token`` pairs, rows L2-normalised
    (an item with no tokens is a zero row). The vocabulary is the tokens of ``items``, or
    ``fitted`` (:func:`vocabulary` of the table a model was trained on: new items are then
    encoded in its columns, and tokens it never saw are left out)."""
    frame = _token_frame(items, columns, separator)
    if fitted is None:
        if frame.empty:
            raise ConfigError(f"encoders.categorical.columns {columns} hold no token in the "
                              f"items table (every cell is empty): fill them or drop the "
                              f"categorical encoder.")
        codes, fitted = pd.factorize(frame["token"], sort=True)
    else:
        codes = pd.Index(fitted).get_indexer(frame["token"])
        frame, codes = frame[codes >= 0], codes[codes >= 0]
    matrix = torch.zeros(len(items), max(len(fitted), 1))
    matrix[torch.tensor(frame["row"].to_numpy()), torch.tensor(codes)] = 1.0
    return F.normalize(matrix, dim=1)


def _token_frame(items: pd.DataFrame, columns: list[str], separator: str) -> pd.DataFrame:
    """One row per (item row, ``column=token``) pair."""
    missing = [c for c in columns if c not in items.columns]
    if missing:
        raise ConfigError(f"encoders.categorical.columns names {missing}, which the items table "
                          f"does not have; it has {list(items.columns)}.")
    rows, tokens = [], []
    for column in columns:
        for row, cell in enumerate(_tokens(items[column], separator)):
            rows.extend([row] * len(cell))
            tokens.extend(f"{column}={token.strip()}" for token in cell)
    frame = pd.DataFrame({"row": pd.Series(rows, dtype=np.int64),
                          "token": pd.Series(tokens, dtype=str)})
    return frame[~frame["token"].str.endswith("=")]


def _tokens(cells: pd.Series, separator: str) -> list[list[str]]:
    """Each cell's tokens: a list/array cell gives its elements, a text cell its parts around
    ``separator``, an empty cell none (never the text of a list such as ``"['a' 'b']"``)."""
    tokens = []
    for cell in cells:
        if isinstance(cell, (list, tuple, np.ndarray)):
            tokens.append([str(value) for value in cell if not pd.isna(value)])
        elif pd.isna(cell):
            tokens.append([])
        else:
            tokens.append(str(cell).split(separator))
    return tokens
