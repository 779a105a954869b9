"""Pretrained modality encoders: raw item content → L2-normalised float32 vectors."""

from encoders.audio import AudioEncoder, load_audio
from encoders.base import Encoder
from encoders.cache import FeatureCache, content_hash
from encoders.categorical import multi_hot
from encoders.hub import resolve_model
from encoders.image import ImageEncoder, load_image
from encoders.items import ItemFeatures, encode_items, item_texts
from encoders.media import MediaError, resolve_media_path
from encoders.registry import available_encoders, create_encoder, register_encoder
from encoders.simple import encode_audio, encode_images, encode_texts
from encoders.text import HFTextEncoder

__all__ = [
    "Encoder", "HFTextEncoder", "ImageEncoder", "AudioEncoder", "load_image", "load_audio",
    "encode_items", "ItemFeatures", "item_texts", "multi_hot", "MediaError", "resolve_media_path",
    "FeatureCache", "content_hash", "resolve_model", "create_encoder", "register_encoder",
    "available_encoders", "encode_texts", "encode_images", "encode_audio",
]
