"""Real-weight audio tests: musicnn (MSD) ported to PyTorch, its TensorFlow checkpoint read in
pure Python, on real clips that pygame ships (a house music loop and sound effects)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

from encoders import AudioEncoder, MediaError, encode_items, load_audio
from encoders.audio import PATCH_FRAMES, SAMPLE_RATE, musicnn_log_mel, windows
from encoders.musicnn import musicnn_checkpoint
from encoders.tf_checkpoint import read_tf_checkpoint
from mmgraph.config import AudioEncoderConfig, EncodersConfig
from mmgraph.errors import DataError

SOUNDS = Path(importlib.util.find_spec("pygame").submodule_search_locations[0]) / "examples/data"


@pytest.fixture(scope="module")
def musicnn():
    return AudioEncoder("musicnn-MSD")


def test_checkpoint_reader_finds_every_tensor():
    tensors = read_tf_checkpoint(f"{musicnn_checkpoint('MSD_musicnn')}/")
    assert len(tensors) == 150
    assert tensors["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert tensors["dense_1/kernel"].shape == (200, 50)


@pytest.mark.parametrize("clip", ["house_lo.wav", "house_lo.ogg"])
def test_house_loop_is_tagged_electronic_and_dance(musicnn, clip):
    tags = musicnn.tags(SOUNDS / clip)
    ranked = sorted(tags, key=tags.get, reverse=True)
    assert ranked[0] == "electronic" and tags["electronic"] > 0.4
    assert "dance" in ranked[:5]
    assert tags["electronic"] > 5 * tags["country"]


def test_two_windows_of_one_clip_are_closer_than_other_sources(musicnn):
    house = load_audio(SOUNDS / "house_lo.wav")
    window = 3 * SAMPLE_RATE
    first, second = house[:window].numpy(), house[window:2 * window].numpy()
    vectors = musicnn.encode([(first, SAMPLE_RATE), (second, SAMPLE_RATE),
                              SOUNDS / "car_door.wav", SOUNDS / "punch.wav"])
    assert vectors.shape == (4, 200)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[0, 1] > similarity[0, 3]


def test_short_clips_are_padded_and_long_ones_pooled_over_windows():
    features = musicnn_log_mel(torch.zeros(SAMPLE_RATE))  # 1 s of silence
    assert windows(features, PATCH_FRAMES).shape == (1, PATCH_FRAMES, 96)
    long = musicnn_log_mel(torch.randn(10 * SAMPLE_RATE))
    assert windows(long, PATCH_FRAMES).shape == (3, PATCH_FRAMES, 96)


def test_resampling_and_stereo_are_handled(tmp_path):
    stereo = np.random.default_rng(0).normal(size=(44_100, 2)).astype(np.float32) * 0.1
    soundfile.write(tmp_path / "s.wav", stereo, 44_100)
    waveform = load_audio(tmp_path / "s.wav")
    assert waveform.dim() == 1 and abs(waveform.numel() - SAMPLE_RATE) <= 1


def test_bad_audio_is_reported_per_item(tmp_path, musicnn):
    (tmp_path / "fake.wav").write_text("not audio at all")
    (tmp_path / "house.wav").write_bytes((SOUNDS / "house_lo.wav").read_bytes())
    with pytest.raises(MediaError, match="not a readable audio file"):
        load_audio(tmp_path / "fake.wav")
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"],
                          "audio": ["house.wav", "fake.wav", "gone.wav", ""]})
    config = EncodersConfig(text=None, audio=AudioEncoderConfig())
    with pytest.raises(DataError) as error:
        encode_items(items, config, tmp_path / "cache", tmp_path, progress=False)
    message = str(error.value)
    assert "2 item(s) have audio media" in message
    assert "item 'b': 'fake.wav' (not a readable audio file" in message
    assert "item 'c': 'gone.wav' (file not found)" in message
    assert "item 'd'" not in message  # no audio at all: masked, not an error

    items = items.drop(index=[1, 2])
    encoded = encode_items(items, config, tmp_path / "cache", tmp_path, progress=False)
    assert encoded.masks["audio"].tolist() == [True, False]
    assert encoded.features["audio"][1].abs().sum() == 0


def test_hugging_face_audio_model_from_a_local_folder(tmp_path):
    """Plumbing only: a tiny random-init wav2vec2 saved as a folder loads by path."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=20, conv_dim=(8, 8), conv_kernel=(10, 3),
                            conv_stride=(5, 2), num_conv_pos_embeddings=16,
                            num_conv_pos_embedding_groups=2)
    Wav2Vec2Model(config).save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(sampling_rate=SAMPLE_RATE).save_pretrained(tmp_path)
    vectors = AudioEncoder(str(tmp_path)).encode([SOUNDS / "punch.wav", SOUNDS / "boom.wav"])
    assert vectors.shape == (2, 16)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(2), atol=1e-5)
