"""Turn raw public datasets into mmgraph's two tables (interactions and items)."""

from data_prep.movielens import prepare_ml100k

__all__ = ["prepare_ml100k", "PREPARERS"]

#: Datasets a config can name in ``data.prepare``: name -> function(out_dir) -> (inter, items).
PREPARERS = {"ml-100k": prepare_ml100k}
