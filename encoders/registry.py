"""Names in configs → encoder factories. Users can register their own."""

from __future__ import annotations

from typing import Callable

from encoders.audio import AudioEncoder
from encoders.base import Encoder
from encoders.image import ImageEncoder
from encoders.text import HFTextEncoder
from mmgraph.errors import ConfigError

__all__ = ["register_encoder", "create_encoder", "available_encoders"]

_FACTORIES: dict[str, Callable[..., Encoder]] = {"text": HFTextEncoder, "image": ImageEncoder,
                                                  "audio": AudioEncoder}


def register_encoder(modality: str, factory: Callable[..., Encoder]) -> None:
    """Make ``factory(**section_fields)`` the encoder built for config section ``modality``."""
    _FACTORIES[modality] = factory


def create_encoder(modality: str, **kwargs) -> Encoder:
    if modality not in _FACTORIES:
        raise ConfigError(f"No encoder is registered for modality '{modality}'; known: "
                          f"{sorted(_FACTORIES)}.")
    return _FACTORIES[modality](**kwargs)


def available_encoders() -> list[str]:
    return sorted(_FACTORIES)
