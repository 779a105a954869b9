"""Reading a YAML run config: relative paths resolved from its folder, duplicate keys refused,
overrides merged, every problem named by key path; and the stable hash of sections that
fingerprints a stage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from mmgraph.errors import ConfigError
from mmgraph.config.run import RunConfig

__all__ = ["QUICKSTART_SETTINGS", "PATH_KEYS", "MODEL_KEYS", "resolve_paths", "load_config",
           "read_config_file", "validate_config", "merge_nested", "section_hash"]


#: The quickstart's settings (MovieLens-100K), in the checkout beside the package: what
#: ``mmgraph quickstart`` runs outside a checkout and :func:`mmgraph.fit` starts from.
QUICKSTART_SETTINGS = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"
#: Config keys that hold paths: relative values written in a config file are read from the
#: file's folder (so a config works from any current directory).
PATH_KEYS = (("data", "interactions"), ("data", "items"), ("data", "media_root"),
             ("runs_root",), ("encoders", "cache_dir"))
#: Keys that hold a hub model name or a local folder: a folder written ``./x`` or ``../x``
#: (or absolute) is read from the config file's folder too; anything else is a hub name.
MODEL_KEYS = (("encoders", "text", "model"), ("encoders", "image", "model"),
              ("encoders", "audio", "model"))


def resolve_paths(raw: dict, folder: Path) -> None:
    """Rewrite, in place, the relative paths of a config file's ``raw`` mapping as paths from
    ``folder`` (the file's folder), expressed relative to the current directory when they can
    be (so run fingerprints do not depend on where the checkout lives)."""
    for keys in PATH_KEYS + MODEL_KEYS:
        parent = raw
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        value = parent.get(keys[-1]) if isinstance(parent, dict) else None
        if not isinstance(value, str) or Path(value).is_absolute():
            continue
        if keys in MODEL_KEYS and not value.startswith(("./", "../")):
            continue  # a hub name
        target = os.path.normpath(folder / value)
        try:
            parent[keys[-1]] = os.path.relpath(target)
        except ValueError:  # another drive (Windows): keep it absolute
            parent[keys[-1]] = os.path.abspath(target)


def load_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    """Read and validate a YAML run config; ``overrides`` (nested dict) win over the file.
    Relative paths in the file are read from its folder (:data:`PATH_KEYS`); paths in
    ``overrides`` from the current directory."""
    raw = read_config_file(path)
    merge_nested(raw, overrides or {})
    return validate_config(raw, f"Config file {path}")


def read_config_file(path: str | Path) -> dict:
    """The mapping of sections a YAML run config holds, its relative paths read from its
    folder; a missing, unreadable or duplicated-key file is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Pass --config with a YAML file "
                          f"such as configs/quickstart.yaml.")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {path} is not UTF-8 text ({exc}); save it as UTF-8."
                          ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of sections, got "
                          f"{type(raw).__name__}.")
    resolve_paths(raw, path.parent)
    return raw


def validate_config(raw: dict, source: str) -> RunConfig:
    """``raw`` validated as a :class:`RunConfig`; every problem is named by its key path in
    one :class:`ConfigError` that starts with ``source`` (``"Config file x.yaml"``)."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors())
        raise ConfigError(f"{source} is invalid: {problems}. Fix these keys "
                          f"(unknown keys are not allowed).") from exc


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain
    YAML keeps the last one silently). Merge keys (``<<: *defaults``) work as in YAML: the
    mapping's own keys override the merged ones."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # flattened by the base loader
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found the key {key!r} twice; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def merge_nested(base: dict, extra: dict) -> None:
    """Merge ``extra`` into ``base`` in place: nested mappings merge, anything else replaces."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_nested(base[key], value)
        else:
            base[key] = value


def section_hash(*sections: BaseModel | str | int | None) -> str:
    """Stable short hash of config sections and upstream fingerprints (for stage skipping)."""
    digest = hashlib.sha256()
    for section in sections:
        text = section.model_dump_json() if isinstance(section, BaseModel) else repr(section)
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
