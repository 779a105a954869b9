"""The run's items as the page shows them: a name, a few attributes and, where the items table
has an image column, the picture.

An item is named by its ``title`` column, else by the text encoder's template over its row (as
the encoder read it), else by its id. Images are read only from under the run's
``data.media_root`` (:func:`encoders.media.resolve_media_path`): a path in the table cannot
reach any other file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from encoders.media import MediaError, resolve_media_path
from encoders.templates import integral_floats_as_ints, item_texts
from mmgraph.data.tables import ITEM, load_items
from mmgraph.recommender import Recommender

__all__ = ["Catalogue", "MAX_ATTRIBUTES"]

MAX_ATTRIBUTES = 4  #: columns shown beside an item's name (the first ones of the items table)


class Catalogue:
    """Names, attributes and image paths of a recommender's items, by id.

    ``items``: the items table (``item_id`` and content columns) or ``None`` (ids only);
    ``template``: the text encoder's, naming items without a ``title``; ``image_column`` and
    ``media_root``: where their pictures are."""

    def __init__(self, items: pd.DataFrame | None, template: str | None = None,
                 image_column: str | None = None, media_root: Path | None = None,
                 hidden: tuple[str, ...] = ()):
        items = pd.DataFrame({ITEM: []}) if items is None else items
        self.frame = items.set_index(ITEM).apply(integral_floats_as_ints)  # 1995, not 1995.0
        if "title" in items:
            names = items["title"].astype(str)
        elif template is not None:
            names = pd.Series(item_texts(items, template), index=items.index)
        else:
            names = items[ITEM].astype(str)
        self.names = pd.Series(names.to_numpy(), index=self.frame.index)
        self._lower_names = self.names.str.lower()
        self.image_column = image_column if image_column in self.frame else None
        self.media_root = media_root
        shown = [c for c in self.frame.columns if c not in ("title", *hidden, image_column)]
        self.attributes = shown[:MAX_ATTRIBUTES]

    @classmethod
    def of(cls, recommender: Recommender) -> "Catalogue":
        """The catalogue of a run's recommender: its items table, as its config reads it."""
        cfg = None if recommender.run is None else recommender.run.read_config()
        if cfg is None or cfg.data.items is None:
            return cls(None)
        media = [c.column for c in (cfg.encoders.image, cfg.encoders.audio) if c is not None]
        return cls(load_items(cfg.data.items, cfg.data.columns.item),
                   cfg.encoders.text.template if cfg.encoders.text else None,
                   cfg.encoders.image.column if cfg.encoders.image else None,
                   cfg.data.media_root, tuple(media))

    def describe(self, ids: list) -> list[dict]:
        """``{"item_id", "name", "attributes", "image"}`` per id, in order; ``image`` is the
        page's URL of its picture (``None`` without one). Items missing from the table (added
        to the index since) are named by their id."""
        rows = self.frame.index.get_indexer(pd.Index(ids))
        described = []
        for item, row in zip(ids, rows):
            if row < 0:
                described.append({"item_id": item, "name": str(item), "attributes": {},
                                  "image": None})
                continue
            values = self.frame.iloc[row]
            described.append({
                "item_id": item, "name": str(self.names.iloc[row]),
                "attributes": {c: str(values[c]) for c in self.attributes
                               if pd.notna(values[c]) and str(values[c]) != ""},
                "image": f"/browse/image/{row}" if self._image_value(row) else None})
        return described

    def search(self, query: str, limit: int) -> list:
        """Ids of the first ``limit`` items whose name contains ``query`` (any case), those
        whose name starts with it first."""
        query = query.strip().lower()
        if not query:
            return []
        contains = self._lower_names.str.contains(query, regex=False).to_numpy()
        starts = self._lower_names.str.startswith(query).to_numpy()
        rows = np.concatenate([np.flatnonzero(starts), np.flatnonzero(contains & ~starts)])
        return self.frame.index[rows[:limit]].tolist()

    def image_path(self, row: int) -> Path:
        """The picture of the table's ``row``, confined to the media root; a
        :class:`~encoders.media.MediaError` when it has none or it is not there."""
        value = self._image_value(row) if 0 <= row < len(self.frame) else None
        if value is None or self.media_root is None:
            raise MediaError(f"item row {row}", "has no image")
        return resolve_media_path(self.media_root, value)

    def _image_value(self, row: int) -> str | None:
        if self.image_column is None or self.media_root is None:
            return None
        value = self.frame[self.image_column].iloc[row]
        return str(value) if pd.notna(value) and str(value).strip() else None
