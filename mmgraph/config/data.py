"""The ``data`` and ``split`` sections: which tables, which columns, which dataset to prepare,
and how interactions are held out."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from data_prep import DATASETS, DatasetName
from mmgraph.strict import StrictModel

__all__ = ["ColumnsConfig", "DataConfig", "SplitConfig"]


class ColumnsConfig(StrictModel):
    """Names of the columns in the user's interactions/items tables."""

    user: str = Field("user_id", description="User id column of the interactions table.")
    item: str = Field("item_id", description="Item id column of both tables.")
    rating: str | None = Field("rating", description="Rating column, used by "
                               "graph.interaction_weight: rating. Left at its default, it is "
                               "read when the table has it; named here, it must exist.")
    timestamp: str | None = Field("timestamp", description="Time column (numbers, e.g. Unix "
                                  "seconds), needed by the time_filter component. Left at its "
                                  "default, it is read when the table has it.")


class DataConfig(StrictModel):
    interactions: Path = Field(description="Table of user–item interactions (Parquet, CSV or "
                               "TSV), one row per interaction.")
    items: Path | None = Field(None, description="Table of items and their content columns "
                               "(text, media paths, attributes); items absent from the "
                               "interactions are cold and placed from their content.")
    columns: ColumnsConfig = ColumnsConfig()
    media_root: Path | None = Field(None, description="Folder that item media paths are "
                                                      "relative to (they cannot leave it).")
    rating_threshold: float | None = Field(
        None, description="Keep only interactions rated at least this (e.g. 4 on a 1–5 scale) "
        "as positives; the rest are dropped before the split. null: every interaction is a "
        "positive. Needs the rating column.")
    prepare: DatasetName | None = Field(
        None, description="Build the tables with data_prep when they do not exist yet (or "
                          "were built with other prepare_options).")
    prepare_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the prepared dataset (e.g. sizes).")

    @model_validator(mode="after")
    def _check_prepare_options(self) -> "DataConfig":
        if not self.prepare_options:
            return self
        options = DATASETS[self.prepare].options() if self.prepare else None
        if options is None:
            raise ValueError(f"prepare_options are given but data.prepare {self.prepare!r} "
                             f"takes none")
        try:
            options.model_validate(self.prepare_options)
        except ValidationError as exc:
            raise ValueError("prepare_options: " + "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()))
        return self


class SplitConfig(StrictModel):
    """How interactions are split into train/valid/test (docs/evaluation.md: what each kind
    leaks)."""

    kind: Literal["random", "temporal_per_user", "temporal_global"] = Field(
        "random", description="random: each user's interactions shuffled and cut; "
        "temporal_per_user: each user's latest interactions held out (leave-last-out); "
        "temporal_global: one cut in time for everyone (nothing of the future leaks). The "
        "temporal kinds need timestamps (data.columns.timestamp).")
    valid: float | int = Field(0.1, ge=0, description="Held out for validation (early "
                               "stopping, tuning): a share below 0.5 (of each user's "
                               "interactions; of all of them for temporal_global), or an "
                               "integer count per user (1: the user's last one).")
    test: float | int = Field(0.1, gt=0, description="Held out for the reported test metrics: "
                              "a share below 0.5 or an integer count per user, as valid.")
    train_share: float = Field(1.0, gt=0, le=1, description="Each user keeps this seeded "
                               "random share of their training interactions (at least one); "
                               "valid and test unchanged. Below 1: the sparse regime, to "
                               "measure what content adds where interactions are few.")

    @model_validator(mode="after")
    def _shares_or_counts(self) -> "SplitConfig":
        for name in ("valid", "test"):
            value = getattr(self, name)
            if isinstance(value, float) and value >= 0.5:
                raise ValueError(f"split.{name} {value} is a share and must be below 0.5 (an "
                                 f"integer such as 1 counts interactions per user)")
            if isinstance(value, int) and self.kind == "temporal_global":
                raise ValueError(f"split.{name} is a count ({value}), but temporal_global cuts "
                                 f"at one time for every user: give a share such as 0.1")
        return self
