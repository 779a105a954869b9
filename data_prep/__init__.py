"""Turn raw public datasets into mmgraph's two tables (interactions and items).

:data:`DATASETS` names the datasets it knows (:mod:`data_prep.datasets`); each preparer lives
in its own module (``data_prep.movielens``, ``data_prep.fashion_demo``). This package may use
``mmgraph.errors`` and ``mmgraph.io``, nothing above them.
"""

from data_prep.datasets import DATASETS, Dataset, DatasetName

__all__ = ["DATASETS", "Dataset", "DatasetName"]
