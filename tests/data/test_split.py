import pandas as pd

from mmgraph.data import deduplicate, split_per_user


def _pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame["user_id"], frame["item_id"]))


def test_split_is_a_seeded_partition_with_the_stated_ratios(tiny_interactions):
    parts = split_per_user(tiny_interactions, valid=0.1, test=0.1, seed=7)
    train, valid, test = (_pairs(parts[n]) for n in ("train", "valid", "test"))
    assert not (train & valid or train & test or valid & test)
    assert train | valid | test == _pairs(tiny_interactions)
    for user, group in tiny_interactions.groupby("user_id"):
        n = len(group)
        assert (parts["test"]["user_id"] == user).sum() == int(n * 0.1 + 0.5)
        assert (parts["valid"]["user_id"] == user).sum() == int(n * 0.1 + 0.5)
    again = split_per_user(tiny_interactions, valid=0.1, test=0.1, seed=7)
    other = split_per_user(tiny_interactions, valid=0.1, test=0.1, seed=8)
    assert _pairs(again["test"]) == test
    assert _pairs(other["test"]) != test


def test_tiny_users_keep_training_data():
    frame = pd.DataFrame({"user_id": [1, 2, 2, 3, 3, 3], "item_id": [1, 1, 2, 1, 2, 3]})
    parts = split_per_user(frame, valid=0.4, test=0.4, seed=0)
    assert set(parts["train"]["user_id"]) == {1, 2, 3}
    assert len(parts["train"]) + len(parts["valid"]) + len(parts["test"]) == 6


def test_deduplicate_keeps_latest():
    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 5, 5], "rating": [1.0, 4.0, 3.0],
                          "timestamp": [20, 10, 1]})
    deduped = deduplicate(frame)
    assert len(deduped) == 2
    assert deduped.loc[deduped["user_id"] == 1, "rating"].item() == 1.0
