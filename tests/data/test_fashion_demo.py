"""The multimodal demo dataset: real fashion-MNIST images and sound clips, simulated users."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from data_prep.fashion_demo import (CLASSES, FASHION_MNIST_DIR, FashionDemoOptions,
                                    prepare_fashion_demo, read_idx, simulate_choices)
from mmgraph.errors import DataError

# No skip when fashion-MNIST is missing: `make test` installs it, and the DataError says how.


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fashion")
    prepare_fashion_demo(folder, num_items=200, num_users=60, seed=5)
    return folder


def test_items_are_real_images_with_their_true_class(demo):
    items = pd.read_parquet(demo / "items.parquet")
    images = read_idx(FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz")
    labels = read_idx(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz")
    assert len(items) == 200 and items["item_id"].is_unique
    assert items["label"].value_counts().tolist() == [20] * 10  # class-balanced
    for row in items.sample(5, random_state=0).itertuples():
        assert row.label == labels[row.item_id] and row.class_name == CLASSES[row.label]
        png = np.asarray(Image.open(demo / "media" / row.image))
        assert np.array_equal(png, images[row.item_id])


def test_half_the_items_carry_a_real_clip_of_their_family(demo):
    items = pd.read_parquet(demo / "items.parquet")
    with_audio = items[items["audio"] != ""]
    assert 0.35 < len(with_audio) / len(items) < 0.65
    assert set(with_audio["jingle"]) == {"voice", "chime", "effects"}
    assert (with_audio["audio"].str.split("/").str[1] == with_audio["jingle"]).all()
    assert all((demo / "media" / p).stat().st_size > 1000 for p in with_audio["audio"])


def test_new_arrivals_are_held_out_of_the_interactions(demo):
    items = pd.read_parquet(demo / "items.parquet")
    seen = pd.read_parquet(demo / "interactions.parquet")
    new = pd.read_parquet(demo / "new_arrivals.parquet")
    assert not set(new["item_id"]) & set(seen["item_id"])
    assert set(new["item_id"]) <= set(items["item_id"]) and len(set(new["item_id"])) <= 20
    assert not seen.duplicated().any()


def test_same_seed_same_data(demo, tmp_path):
    prepare_fashion_demo(tmp_path, num_items=200, num_users=60, seed=5)
    for name in ("items", "interactions", "new_arrivals"):
        pd.testing.assert_frame_equal(pd.read_parquet(demo / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / f"{name}.parquet"))


def test_choices_follow_the_stated_preferences():
    """Strong class tastes and jingle preferences concentrate choices far above chance."""
    rng = np.random.default_rng(0)
    n = 600
    items = pd.DataFrame({"item_id": np.arange(n), "label": np.arange(n) % 10,
                          "tone": np.where(np.arange(n) % 2, "light", "dark"),
                          "jingle": np.array(["voice", "chime", "effects", ""])[np.arange(n) % 4]})
    opts = FashionDemoOptions(num_users=200, audio_weight=3.0)
    choices = simulate_choices(items, opts, rng)[0].merge(items, on="item_id")
    top_class = choices.groupby("user_id")["label"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    assert top_class.mean() > 0.5  # uniform choice would give about 0.2
    with_jingle = choices[choices["jingle"] != ""]
    top_jingle = with_jingle.groupby("user_id")["jingle"].agg(
        lambda s: s.value_counts().iloc[0] / len(s))
    assert top_jingle.mean() > 0.6  # a third is chance

    flat = simulate_choices(items, FashionDemoOptions(num_users=200, class_concentration=1e3,
                                                      audio_weight=0, tone_weight=0,
                                                      popularity_sigma=0), rng)[0]
    flat_top = flat.merge(items, on="item_id").groupby("user_id")["label"].agg(
        lambda s: s.value_counts().iloc[0] / len(s))
    assert flat_top.mean() < 0.35


def test_missing_or_broken_image_files_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        prepare_fashion_demo(tmp_path, images_dir=tmp_path / "nowhere")
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + b"\x00" * 12)
    with pytest.raises(DataError, match="bad.gz is truncated or corrupt"):
        read_idx(bad)
    (tmp_path / "plain.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="plain.gz is not a readable gzip file"):
        read_idx(tmp_path / "plain.gz")


def test_options_are_validated():
    with pytest.raises(ValueError, match="num_itemz"):
        FashionDemoOptions(num_itemz=3)


def test_saved_preferences_rank_the_chosen_items_first(demo):
    from data_prep.fashion_demo import Preferences

    items = pd.read_parquet(demo / "items.parquet")
    chosen = pd.concat([pd.read_parquet(demo / "interactions.parquet"),
                        pd.read_parquet(demo / "new_arrivals.parquet")])
    preferences = Preferences.load(demo / "truth")
    users = np.arange(60)
    utility = preferences.utility(users, items, FashionDemoOptions())
    position = {item: i for i, item in enumerate(items["item_id"])}
    picked = utility[chosen["user_id"].to_numpy(), chosen["item_id"].map(position).to_numpy()]
    assert picked.mean() > np.median(utility) + 2  # chosen items sit far above the median
