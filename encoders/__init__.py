"""Pretrained modality encoders: raw item content → L2-normalised float32 vectors.

Each name is imported from its module on first use (as transformers does), so that reading the
encoders' settings (:mod:`encoders.config`, part of every run config) loads neither torch nor
transformers. This package may use ``mmgraph.errors``, ``mmgraph.io``, ``mmgraph.strict`` and
``mmgraph.lazy``, nothing above them.
"""

from mmgraph.lazy import lazy_exports

#: Public name → the module defining it.
_MODULES = {
    "AudioEncoder": "audio", "load_audio": "audio", "Encoder": "base",
    "FeatureCache": "cache", "content_hash": "cache", "multi_hot": "categorical",
    "resolve_model": "hub", "ImageEncoder": "image", "load_image": "image",
    "ItemFeatures": "items", "encode_items": "items", "item_texts": "templates",
    "MediaError": "media", "resolve_media_path": "media", "available_encoders": "registry",
    "create_encoder": "registry", "register_encoder": "registry", "encode_audio": "simple",
    "encode_images": "simple", "encode_texts": "simple", "HFTextEncoder": "text",
}

__all__ = sorted(_MODULES)
__getattr__, __dir__ = lazy_exports(__name__, {
    name: (f"encoders.{module}", name) for name, module in _MODULES.items()})
