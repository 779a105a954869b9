import numpy as np
import pandas as pd
import pytest

from mmgraph.data import deduplicate, split_description, split_interactions
from mmgraph.data.tables import ITEM, USER
from mmgraph.errors import DataError


def _pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame["user_id"], frame["item_id"]))


def _timed(num_users: int = 30, seed: int = 0) -> pd.DataFrame:
    """Users with 3-20 interactions at random times (some ties), distinct items per user."""
    rng = np.random.default_rng(seed)
    rows = [(user, item, int(rng.integers(0, 50)))
            for user in range(num_users)
            for item in rng.choice(200, rng.integers(3, 21), replace=False)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_split_is_a_seeded_partition_with_the_stated_ratios(tiny_interactions):
    parts = split_interactions(tiny_interactions, "random", valid=0.1, test=0.1, seed=7)
    train, valid, test = (_pairs(parts[n]) for n in ("train", "valid", "test"))
    assert not (train & valid or train & test or valid & test)
    assert train | valid | test == _pairs(tiny_interactions)
    for user, group in tiny_interactions.groupby("user_id"):
        n = len(group)
        assert (parts["test"]["user_id"] == user).sum() == int(n * 0.1 + 0.5)
        assert (parts["valid"]["user_id"] == user).sum() == int(n * 0.1 + 0.5)
    again = split_interactions(tiny_interactions, "random", valid=0.1, test=0.1, seed=7)
    other = split_interactions(tiny_interactions, "random", valid=0.1, test=0.1, seed=8)
    assert _pairs(again["test"]) == test
    assert _pairs(other["test"]) != test


def test_tiny_users_keep_training_data():
    frame = pd.DataFrame({"user_id": [1, 2, 2, 3, 3, 3], "item_id": [1, 1, 2, 1, 2, 3]})
    parts = split_interactions(frame, "random", valid=0.4, test=0.4, seed=0)
    assert set(parts["train"]["user_id"]) == {1, 2, 3}
    assert len(parts["train"]) + len(parts["valid"]) + len(parts["test"]) == 6


def test_counts_hold_out_that_many_interactions_per_user():
    frame = _timed()
    parts = split_interactions(frame, "random", valid=1, test=2, seed=3)
    held = {n: parts[n].groupby("user_id").size() for n in ("valid", "test")}
    assert (held["valid"] == 1).all() and (held["test"] == 2).all()
    assert len(held["test"]) == frame["user_id"].nunique()


def test_temporal_per_user_holds_out_each_users_latest():
    frame = _timed()
    parts = split_interactions(frame, "temporal_per_user", valid=1, test=1, seed=0)
    train = parts["train"].groupby("user_id")["timestamp"].max()
    valid = parts["valid"].set_index("user_id")["timestamp"]
    test = parts["test"].set_index("user_id")["timestamp"]
    assert (train <= valid[train.index]).all() and (valid <= test[valid.index]).all()
    assert _pairs(parts["train"]) | _pairs(parts["valid"]) | _pairs(parts["test"]) == \
        _pairs(frame)
    shares = split_interactions(frame, "temporal_per_user", valid=0.2, test=0.2, seed=0)
    latest_train = shares["train"].groupby("user_id")["timestamp"].max()
    earliest_test = shares["test"].groupby("user_id")["timestamp"].min()
    assert (latest_train[earliest_test.index] <= earliest_test).all()


def test_temporal_global_cuts_at_one_time_and_drops_users_without_history():
    frame = _timed(seed=1)
    late = pd.DataFrame({"user_id": [999, 999], "item_id": [1, 2], "timestamp": [60, 61]})
    parts = split_interactions(pd.concat([frame, late]), "temporal_global", 0.1, 0.2, seed=0)
    assert parts["train"]["timestamp"].max() <= parts["valid"]["timestamp"].min()
    assert parts["valid"]["timestamp"].max() <= parts["test"]["timestamp"].min()
    assert 999 not in set(parts["test"]["user_id"])  # arrived after the cut: nothing ranks
    assert set(parts["test"]["user_id"]) <= set(parts["train"]["user_id"])
    total = sum(len(p) for p in parts.values())
    assert abs(len(parts["train"]) - 0.7 * (len(frame) + 2)) <= 2 and total <= len(frame) + 2
    with pytest.raises(ValueError, match="shares"):
        split_interactions(frame, "temporal_global", 1, 1)


def test_temporal_kinds_need_timestamps(tiny_interactions):
    with pytest.raises(DataError, match="timestamp"):
        split_interactions(tiny_interactions.drop(columns="timestamp", errors="ignore"),
                           "temporal_per_user")


def test_description_names_the_kind_and_the_amounts():
    assert split_description("random", 0.1, 0.1, 7) == "per-user random 80%/10%/10%, seed 7"
    assert "1 valid and 1 test per user" in split_description("temporal_per_user", 1, 1, 7)
    assert "latest 10%" in split_description("temporal_global", 0.1, 0.1, 7)


def test_deduplicate_keeps_latest():
    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 5, 5], "rating": [1.0, 4.0, 3.0],
                          "timestamp": [20, 10, 1]})
    deduped = deduplicate(frame)
    assert len(deduped) == 2
    assert deduped.loc[deduped["user_id"] == 1, "rating"].item() == 1.0


def test_train_share_thins_each_users_training_part_only():
    """The sparse regime: each user keeps a seeded share of their training rows (at least
    one); valid and test are those of the full split."""
    frame = pd.DataFrame({USER: np.repeat(np.arange(30), 20), ITEM: np.tile(np.arange(20), 30)})
    full = split_interactions(frame, "random", valid=0.1, test=0.1, seed=4)
    thin = split_interactions(frame, "random", valid=0.1, test=0.1, seed=4, train_share=0.2)
    for part in ("valid", "test"):
        pd.testing.assert_frame_equal(thin[part], full[part])
    kept = thin["train"].groupby(USER).size()
    assert (kept == round(16 * 0.2 + 1e-9)).all()  # 16 training rows each -> 3
    assert set(map(tuple, thin["train"].to_numpy())) <= set(map(tuple, full["train"].to_numpy()))
    tiny = split_interactions(frame.head(3), "random", valid=1, test=1, seed=4, train_share=0.01)
    assert len(tiny["train"]) == 1  # never below one training row
