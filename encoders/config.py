"""The encoders' settings (the run config's ``encoders`` section): which pretrained model
embeds each modality, and how."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from mmgraph.strict import StrictModel

__all__ = ["TextEncoderConfig", "CategoricalEncoderConfig", "ImageEncoderConfig",
           "AudioEncoderConfig", "EncodersConfig"]


class TextEncoderConfig(StrictModel):
    model: str = Field("sentence-transformers/all-MiniLM-L6-v2", min_length=1,
                       description="Hugging Face "
                       "model name or local folder (from_pretrained).")
    template: str = Field("{title}", description="Python format string over item columns.")
    pooling: Literal["mean", "cls"] = Field("mean", description="Token vectors to one text "
                                            "vector: masked mean or the first token.")
    batch_size: int = Field(64, ge=1, description="Texts per encoder forward pass.")
    max_length: int = Field(128, ge=8, description="Tokens kept per text (longer are cut).")


class CategoricalEncoderConfig(StrictModel):
    columns: list[str] = Field(min_length=1, description="Item columns of categorical tokens.")
    separator: str = Field("|", min_length=1, description="Splits multi-valued cells.")


class ImageEncoderConfig(StrictModel):
    model: str = Field("efficientnet-lite0", min_length=1, description="efficientnet-lite0, "
                       "torchvision/<arch> (with weights), or a Hugging Face name/folder.")
    weights: str | None = Field(None, description="Local state-dict file for torchvision/<arch>.")
    column: str = Field("image", description="Items column of paths under data.media_root.")
    batch_size: int = Field(32, ge=1, description="Images per encoder forward pass.")


class AudioEncoderConfig(StrictModel):
    model: str = Field("musicnn-MSD", min_length=1, description="musicnn-MSD, musicnn-MTT, "
                       "or a Hugging Face "
                       "audio model name/folder.")
    column: str = Field("audio", description="Items column of paths under data.media_root.")
    batch_size: int = Field(8, ge=1, description="Clips per encoder forward pass.")


class EncodersConfig(StrictModel):
    text: TextEncoderConfig | None = TextEncoderConfig()
    image: ImageEncoderConfig | None = None
    audio: AudioEncoderConfig | None = None
    categorical: CategoricalEncoderConfig | None = None
    cache_dir: Path | None = Field(
        None, description="Feature cache (keyed by encoder and content hash, so runs can share "
                          "one); default: <run>/features/cache.")
    on_media_error: Literal["fail", "zero"] = Field(
        "fail", description="Missing/unreadable media: stop with a report, or use a zero "
                            "vector and mark the item in the modality's mask.")
