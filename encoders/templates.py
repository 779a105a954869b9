"""Item texts from a template over the items table's columns (``"{title} ({year})"``): what the
text encoder reads, and how items without a title are named on screen. pandas only, so that
serving can name items without torch."""

from __future__ import annotations

import string

import pandas as pd

from mmgraph.errors import ConfigError

__all__ = ["item_texts", "integral_floats_as_ints"]


def item_texts(items: pd.DataFrame, template: str) -> list[str]:
    """Fill ``template`` (``str.format`` over item columns) for every item; NaN becomes ``""``.
    Placeholders are plain column names (no positional ``{}``, no ``.attr`` or ``[key]``
    lookups); a malformed template or a format spec a value cannot take is a
    :class:`ConfigError` naming it."""
    fix = "use {column} placeholders (and {{ }} for literal braces)"
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template)
                  if name is not None}
    except ValueError as exc:
        raise ConfigError(f"encoders.text.template {template!r} is malformed ({exc}); "
                          f"{fix}.") from exc
    lookups = sorted(f for f in fields if not f or f.isdigit() or any(c in f for c in ".["))
    if lookups:
        raise ConfigError(f"encoders.text.template {template!r} has placeholder(s) {lookups} "
                          f"that are not column names; {fix}.")
    missing = sorted(fields - set(items.columns))
    if missing:
        raise ConfigError(f"encoders.text.template uses column(s) {missing} that the items table "
                          f"does not have; it has {list(items.columns)}.")
    columns = items[sorted(fields)].apply(integral_floats_as_ints)
    columns = columns.astype(object).where(columns.notna(), "")
    texts = []
    for row, values in enumerate(columns.to_dict("records")):
        try:
            texts.append(template.format(**values))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"encoders.text.template {template!r} cannot format item row "
                              f"{row} ({values}): {exc}; remove or fix the format spec.") from exc
    return texts


def integral_floats_as_ints(column: pd.Series) -> pd.Series:
    """A float column whose values are all whole numbers (a year read with missing cells is
    float) as nullable integers, so that a template says "1995", not "1995.0"."""
    if pd.api.types.is_float_dtype(column):
        values = column.dropna()
        if len(values) and (values == values.round()).all() and values.abs().max() < 2**53:
            return column.astype("Int64")
    return column
