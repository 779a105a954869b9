"""Public names of a package imported from their modules on first use (as transformers does),
so that importing the package, or reading one light part of it, loads no heavy dependency
(serving never imports torch; reading encoder settings never imports transformers)."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any, Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, tuple[str, str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for ``names``: public name →
    (module, attribute), the module imported when the name is first read."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = names[name]
        return getattr(import_module(module), attribute)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
