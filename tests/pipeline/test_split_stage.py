"""The split stage: which interactions count as positives, which kind of split, and the files
it writes."""

import pandas as pd
import pytest

from mmgraph.config import RunConfig
from mmgraph.errors import DataError
from mmgraph.pipeline import STAGES
from mmgraph.runs import RunDir, load_split


def _run(tmp_path, frame: pd.DataFrame, **sections) -> RunDir:
    frame.to_csv(tmp_path / "inter.csv", index=False)
    cfg = RunConfig.model_validate({
        "name": "s", "runs_root": str(tmp_path / "runs"),
        "data": {"interactions": str(tmp_path / "inter.csv"), **sections.pop("data", {})},
        "encoders": {"text": None}, **sections})
    run = RunDir(cfg.run_dir)
    STAGES["split"](cfg, run, progress=False)
    return run


def test_rating_threshold_keeps_the_well_rated_interactions(tmp_path, tiny_interactions):
    run = _run(tmp_path, tiny_interactions, data={"rating_threshold": 4})
    parts = [pd.read_parquet(run.path("splits", f"{n}.parquet"))
             for n in ("train", "valid", "test")]
    kept = pd.concat(parts)
    assert len(kept) == (tiny_interactions["rating"] >= 4).sum()
    assert kept["rating"].min() >= 4


def test_rating_threshold_needs_ratings_and_must_keep_something(tmp_path, tiny_interactions):
    with pytest.raises(DataError, match="no rating column"):
        _run(tmp_path, tiny_interactions.drop(columns="rating"),
             data={"rating_threshold": 4, "columns": {"rating": None}})
    with pytest.raises(DataError, match="No interaction .* is rated at least 99"):
        _run(tmp_path, tiny_interactions, data={"rating_threshold": 99})


def test_temporal_split_holds_out_each_users_last_interaction(tmp_path, tiny_interactions):
    run = _run(tmp_path, tiny_interactions, split={"kind": "temporal_per_user", "valid": 1,
                                                   "test": 1})
    test = pd.read_parquet(run.path("splits", "test.parquet")).set_index("user_id")
    train = pd.read_parquet(run.path("splits", "train.parquet"))
    assert (train.groupby("user_id")["timestamp"].max() <= test.loc[
        train["user_id"].unique(), "timestamp"].groupby(level=0).min()).all()
    assert (test.groupby(level=0).size() == 1).all()
    data = load_split(run)
    assert len(data.users) == train["user_id"].nunique()  # every user keeps a history
