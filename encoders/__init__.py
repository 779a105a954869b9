"""Pretrained modality encoders: raw item content → L2-normalised float32 vectors."""

from encoders.base import Encoder
from encoders.cache import FeatureCache, content_hash
from encoders.categorical import multi_hot
from encoders.hub import resolve_model
from encoders.items import encode_items, item_texts
from encoders.registry import available_encoders, create_encoder, register_encoder
from encoders.text import HFTextEncoder

__all__ = ["Encoder", "HFTextEncoder", "FeatureCache", "content_hash", "resolve_model",
           "encode_items", "item_texts", "create_encoder", "register_encoder",
           "available_encoders", "multi_hot"]
