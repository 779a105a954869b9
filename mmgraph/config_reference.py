"""The run configuration's reference, generated from its schema (:class:`mmgraph.config.RunConfig`):
every key with its type, default, allowed range and description, one table per section.

``python -m mmgraph.config_reference > docs/config.md`` writes it; ``tests/test_config.py``
checks that docs/config.md equals this output, so the reference cannot drift from the code.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from mmgraph.config import RunConfig

__all__ = ["config_reference"]

_BOUNDS = {Ge: ("≥", "ge"), Gt: (">", "gt"), Le: ("≤", "le"), Lt: ("<", "lt"),
           MinLen: ("length ≥", "min_length"), MaxLen: ("length ≤", "max_length")}


def _section(annotation: Any) -> type[BaseModel] | None:
    """The config model a field holds (also inside ``Model | None``), else ``None``."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _type_name(annotation: Any) -> str:
    """A short readable type: ``int``, ``'a' | 'b'``, ``tuple of float``, ``path or null``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join("null" if arg is type(None) else _type_name(arg) for arg in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (tuple, list):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is Any:
        return "any"
    return {"Path": "path", "str": "text", "int": "integer", "float": "number",
            "bool": "true/false"}.get(getattr(annotation, "__name__", ""), str(annotation))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default is PydanticUndefined else info.default
    if isinstance(value, BaseModel):
        return "(section defaults)"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{'null' if value is None else value}`"


def _bounds(metadata: list[Any]) -> list[str]:
    return [f"{sign} {getattr(item, attribute)}" for item in metadata
            for kind, (sign, attribute) in _BOUNDS.items() if isinstance(item, kind)]


def _constraints(info: FieldInfo) -> str:
    """Bounds, lengths and patterns of a field (and of each item of a list field)."""
    parts = _bounds(info.metadata)
    parts += [f"matches `{item.pattern}`" for item in info.metadata
              if getattr(item, "pattern", None)]
    for arg in typing.get_args(info.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            base, *extras = typing.get_args(arg)
            subject = "list" if typing.get_origin(base) in (tuple, list) else "each"
            for extra in extras:
                parts += [f"{subject} {bound}" for bound in
                          _bounds(getattr(extra, "metadata", [extra]))]
    return ", ".join(parts).replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str, sections: list[str]) -> None:
    """Append ``model``'s table (and then its subsections') to ``sections``."""
    lines = [f"## `{prefix or '(top level)'}`", ""]
    doc = (model.__doc__ or "").strip()
    if doc and not doc.startswith("Usage docs") and model is not RunConfig:
        lines += [re.sub(r"\s+", " ", doc), ""]
    lines += ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    nested = []
    for name, info in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        section = _section(info.annotation)
        if section is not None:
            nested.append((section, key))
        description = re.sub(r"\s+", " ", info.description or "").replace("|", "\\|")
        if section is not None:
            description = (description + " " if description else "") + f"See `{key}` below."
        lines.append(f"| `{key}` | {_type_name(info.annotation)} | {_default(info)} | "
                     f"{_constraints(info)} | {description} |")
    sections.append("\n".join(lines))
    for section, key in nested:
        _rows(section, key, sections)


def config_reference() -> str:
    """The whole reference as Markdown."""
    sections = ["# Run configuration reference", "",
                "Generated from `mmgraph/config/` by `python -m mmgraph.config_reference > "
                "docs/config.md` (a test keeps it in step). A run config is YAML with these "
                "keys; unknown keys, a key given twice, NaN/inf, true/false where a number "
                "belongs and a nonzero number outside float32's range (1.18e-38 to 3.4e38 in "
                "magnitude) are errors that name the key. Relative paths in a config file (data "
                "tables, media_root, runs_root, cache_dir, and model folders written `./x` or "
                "`../x`) are read from the file's folder, so a config works from any current "
                "directory; `configs/quickstart.yaml` (a complete example) names "
                "`../data/ml-100k/...`."]
    tables: list[str] = []
    _rows(RunConfig, "", tables)
    return "\n".join(sections) + "\n\n" + "\n\n".join(tables) + "\n"


if __name__ == "__main__":
    print(config_reference(), end="")
