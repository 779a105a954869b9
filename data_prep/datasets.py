"""The datasets data_prep can build: the one registry that the config (``data.prepare`` and
its options), the CLI's ``mmgraph prepare`` and the split stage read. Each preparer is imported
only when used (pandas, PIL): reading the registry is free."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel

__all__ = ["Dataset", "DATASETS", "DatasetName"]


@dataclass(frozen=True)
class Dataset:
    """A known dataset: its ``name`` in configs, the preparer ``module`` and ``function``
    (``function(out_dir, **options) -> (interactions path, items path)``) and the pydantic
    model of the options it takes (``None``: none)."""

    name: str
    module: str
    function: str
    options_model: str | None = None

    def preparer(self) -> Callable[..., tuple[Path, Path]]:
        return getattr(import_module(self.module), self.function)

    def options(self) -> type[BaseModel] | None:
        return None if self.options_model is None else getattr(import_module(self.module),
                                                               self.options_model)


DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in (
    Dataset("ml-100k", "data_prep.movielens", "prepare_ml100k"),
    Dataset("ml-latest-small", "data_prep.movielens", "prepare_ml_latest_small"),
    Dataset("fashion-demo", "data_prep.fashion_demo", "prepare_fashion_demo",
            "FashionDemoOptions"),
)}

#: A known dataset's name, as the config's ``data.prepare`` accepts it.
DatasetName = Literal[tuple(DATASETS)]  # type: ignore[valid-type]
