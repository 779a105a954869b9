"""The notebook encoders (model name in, array out) on real weights from registry packages:
all-MiniLM-L6-v2, EfficientNet-Lite0, musicnn; and a damaged feature cache."""

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
import soundfile
from PIL import Image

from encoders import (FeatureCache, HFTextEncoder, encode_audio, encode_images, encode_items,
                      encode_texts)
from mmgraph.config import EncodersConfig
from mmgraph.errors import DataError

SOUNDS = Path(importlib.util.find_spec("pygame").submodule_search_locations[0]) / "examples/data"
TEXTS = ["A man is playing a guitar.", "The stock market fell sharply today.",
         "A man is playing a guitar."]


def test_encode_texts_equals_the_encoder_and_the_pipeline_and_shares_its_cache(tmp_path,
                                                                               caplog):
    vectors = encode_texts(TEXTS, progress=False)
    direct = HFTextEncoder("sentence-transformers/all-MiniLM-L6-v2").encode(TEXTS).numpy()
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, direct, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])

    items = pd.DataFrame({"item_id": [1, 2], "title": TEXTS[:2]})
    with caplog.at_level(logging.INFO, logger="encoders.items"):
        encode_items(items, EncodersConfig(), tmp_path, progress=False)  # the pipeline's cache
    assert "renders items as, e.g., 'A man is playing a guitar.'" in caplog.text
    shards = sorted(tmp_path.rglob("shard-*.safetensors"))
    cached = encode_texts(TEXTS, cache_dir=tmp_path, progress=False)
    assert sorted(tmp_path.rglob("shard-*.safetensors")) == shards  # nothing encoded again
    np.testing.assert_allclose(cached, vectors, atol=1e-5)
    assert encode_texts([], progress=False).shape == (0, 384)


def test_encode_images_from_paths_or_pictures_and_names_a_bad_file(tmp_path):
    picture = Image.fromarray(skimage.data.coffee()).convert("RGB")
    picture.save(tmp_path / "coffee.png")
    rocket = Image.fromarray(skimage.data.rocket()).convert("RGB")
    vectors = encode_images([tmp_path / "coffee.png", picture, rocket], progress=False)
    assert vectors.shape == (3, 1280)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)  # PNG is lossless
    assert vectors[0] @ vectors[2] < 0.9
    (tmp_path / "notes.png").write_text("this is not an image")
    with pytest.raises(DataError, match="input 1 .*notes.png"):
        encode_images([tmp_path / "coffee.png", tmp_path / "notes.png"], progress=False)
    with pytest.raises(DataError, match="missing.png"):
        encode_images([tmp_path / "missing.png"], progress=False)


def test_encode_audio_from_a_file_or_its_samples():
    path = SOUNDS / "house_lo.wav"
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    vectors = encode_audio([path, (samples.mean(axis=1), rate)], progress=False)
    assert vectors.shape[0] == 2 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.99


def test_a_damaged_cache_shard_is_set_aside_and_encoded_again(tmp_path, caplog):
    first = encode_texts(TEXTS, cache_dir=tmp_path, progress=False)
    (shard,) = tmp_path.rglob("shard-*.safetensors")
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    with caplog.at_level(logging.WARNING):
        again = encode_texts(TEXTS, cache_dir=tmp_path, progress=False)
    assert shard.name in caplog.text and "encoded again" in caplog.text
    assert (shard.parent / (shard.name + ".corrupt")).is_file()
    np.testing.assert_allclose(again, first, atol=1e-5)
    assert len(FeatureCache(tmp_path, HFTextEncoder(
        "sentence-transformers/all-MiniLM-L6-v2").name).vectors) == 2
