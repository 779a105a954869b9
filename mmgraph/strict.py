"""The strict base of every settings model (run configs, encoder and dataset options): unknown
keys, NaN/inf, booleans where numbers belong and floats a float32 tensor cannot hold are errors
that name the field, so a typo never falls back to a default."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["StrictModel", "FLOAT32_RANGE", "one_or_several"]


def _is_number(annotation: Any) -> bool:
    """``int``, ``float`` or a union of them (``float | int``, ``int | None``)."""
    if annotation in (int, float):
        return True
    options = set(get_args(annotation)) - {type(None)}
    return bool(options) and options <= {int, float}


#: Magnitudes a float32 tensor holds as a normal number (numpy's finfo tiny and max): every
#: float of a config, and every rating used as an edge weight, becomes one.
FLOAT32_RANGE = (1.1754944e-38, 3.4028235e38)


def _floats(value: Any):
    """Every float inside a field's value (plain, in a tuple/list, or a mapping's values)."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, (tuple, list)):
        for element in value:
            yield from _floats(element)
    elif isinstance(value, dict):
        for element in value.values():
            yield from _floats(element)



class StrictModel(BaseModel):
    """Unknown keys, NaN/inf, booleans where a number belongs and floats that float32 cannot
    hold (they would overflow to inf or vanish to 0 in the tensors they scale) are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """YAML's ``yes``/``true`` would pass as 1 for an int or float field."""
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                if isinstance(data.get(name), bool) and _is_number(info.annotation):
                    raise ValueError(f"{name} must be a number, got {data[name]!r}")
        return data

    @model_validator(mode="after")
    def _floats_fit_float32(self):
        for name in type(self).model_fields:
            for number in _floats(getattr(self, name)):
                if number and not FLOAT32_RANGE[0] <= abs(number) <= FLOAT32_RANGE[1]:
                    raise ValueError(f"{name} = {number!r} is outside what a float32 tensor "
                                     f"holds ({FLOAT32_RANGE[0]:.3g} to {FLOAT32_RANGE[1]:.3g} "
                                     f"in magnitude, or 0)")
        return self


def one_or_several(value: Any) -> Any:
    """A grid written as one number is a grid of one (a ``field_validator(mode="before")``)."""
    return (value,) if isinstance(value, (int, float)) else value
