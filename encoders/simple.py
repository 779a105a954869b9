"""Model name in, vectors out: the modality encoders for a notebook, without a config or a run.

``encode_texts(["a film about ..."])`` gives the same vectors as the pipeline's encode stage
with the same model and settings (defaults are the config's), and with ``cache_dir`` it shares
the pipeline's feature cache: content already encoded there is not encoded again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from encoders.audio import AudioInput
from encoders.base import Encoder
from encoders.cache import FeatureCache, content_hash
from encoders.items import encode_into_cache
from encoders.registry import create_encoder
from encoders.config import AudioEncoderConfig, ImageEncoderConfig, TextEncoderConfig
from mmgraph.errors import DataError
from mmgraph.io import file_sha256

__all__ = ["encode_texts", "encode_images", "encode_audio"]


def _default(config: type, field: str) -> Any:
    """A config field's default: one source for the pipeline's and the notebook's settings."""
    return config.model_fields[field].default


def encode_texts(texts: Sequence[str], model: str = _default(TextEncoderConfig, "model"), *,
                 pooling: str = _default(TextEncoderConfig, "pooling"),
                 max_length: int = _default(TextEncoderConfig, "max_length"),
                 batch_size: int = _default(TextEncoderConfig, "batch_size"),
                 cache_dir: str | Path | None = None, device: torch.device | str = "cpu",
                 progress: bool = True) -> np.ndarray:
    """``[len(texts), d]`` L2-normalised float32 vectors of ``texts`` (``str`` each) by a
    Hugging Face model (hub name or local folder), pooled over tokens (``"mean"`` or
    ``"cls"``)."""
    encoder = create_encoder("text", model=model, pooling=pooling, max_length=max_length,
                             device=device)
    texts = [str(text) for text in texts]
    return _encode(encoder, texts, [content_hash(text) for text in texts], batch_size,
                   cache_dir, progress)


def encode_images(images: Sequence[str | Path | Image.Image],
                  model: str = _default(ImageEncoderConfig, "model"), *,
                  batch_size: int = _default(ImageEncoderConfig, "batch_size"),
                  cache_dir: str | Path | None = None, device: torch.device | str = "cpu",
                  progress: bool = True) -> np.ndarray:
    """``[len(images), d]`` L2-normalised float32 vectors of image files (paths) or PIL images,
    by ``efficientnet-lite0``, a torchvision ResNet name or a Hugging Face vision model. An
    unreadable image is a :class:`DataError` naming it."""
    encoder = create_encoder("image", model=model, device=device)
    return _encode(encoder, list(images), [_image_key(image) for image in images], batch_size,
                   cache_dir, progress)


def encode_audio(clips: Sequence[AudioInput], model: str = _default(AudioEncoderConfig, "model"),
                 *, batch_size: int = _default(AudioEncoderConfig, "batch_size"),
                 cache_dir: str | Path | None = None, device: torch.device | str = "cpu",
                 progress: bool = True) -> np.ndarray:
    """``[len(clips), d]`` L2-normalised float32 vectors of audio files (paths) or
    ``(waveform, sample_rate)`` pairs, by ``musicnn-MSD``/``musicnn-MTT`` or a Hugging Face
    audio model. An unreadable clip is a :class:`DataError` naming it."""
    encoder = create_encoder("audio", model=model, device=device)
    return _encode(encoder, list(clips), [_audio_key(clip) for clip in clips], batch_size,
                   cache_dir, progress)


def _image_key(image: str | Path | Image.Image) -> str:
    """Content key: a file's sha256 (as the encode stage keys media), or the pixels'."""
    if isinstance(image, Image.Image):
        return content_hash(f"{image.mode}{image.size}".encode() + image.tobytes())
    return _file_key(image)


def _audio_key(clip: AudioInput) -> str:
    """Content key: a file's sha256 (as the encode stage keys media), or the samples'."""
    if isinstance(clip, tuple):
        waveform, rate = clip
        samples = np.ascontiguousarray(np.asarray(waveform, dtype=np.float32))
        return content_hash(f"{rate}{samples.shape}".encode() + samples.tobytes())
    return _file_key(clip)


def _file_key(path: str | Path) -> str:
    """A media file's key, its sha256 (as the encode stage keys media); a file that cannot be
    read is a :class:`DataError` naming it."""
    try:
        return file_sha256(path)[:32]
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}; pass existing files, "
                        f"or the images / waveforms themselves.") from exc


def _encode(encoder: Encoder, inputs: list, keys: list[str], batch_size: int,
            cache_dir: str | Path | None, progress: bool) -> np.ndarray:
    """Encode each distinct key's input once, through the feature cache at ``cache_dir`` (a
    temporary one without it), and stack the vectors in input order."""
    with tempfile.TemporaryDirectory() as scratch:
        cache = FeatureCache(cache_dir if cache_dir is not None else scratch, encoder.name)
        by_key = dict(zip(keys, inputs))
        failures = encode_into_cache(encoder, list(by_key), by_key, cache, batch_size, progress)
        if failures:
            named = [f"input {keys.index(key)} ({by_key[key]!r}): {reason}"
                     for key, reason in list(failures.items())[:5]]
            raise DataError(f"{len(failures)} {encoder.modality} input(s) cannot be encoded: "
                            f"{'; '.join(named)}.")
        if not keys:
            return np.empty((0, encoder.dim), np.float32)
        return cache.stack(keys).numpy()
