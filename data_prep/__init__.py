"""Turn raw public datasets into mmgraph's two tables (interactions and items)."""

from data_prep.fashion_demo import FashionDemoOptions, prepare_fashion_demo
from data_prep.movielens import prepare_ml100k

__all__ = ["prepare_ml100k", "prepare_fashion_demo", "PREPARERS", "PREPARER_OPTIONS"]

#: Datasets a config can name in ``data.prepare``:
#: name -> function(out_dir, **options) -> (interactions path, items path).
PREPARERS = {"ml-100k": prepare_ml100k, "fashion-demo": prepare_fashion_demo}
#: The options (``data.prepare_options``) each dataset accepts, as a pydantic model.
PREPARER_OPTIONS = {"fashion-demo": FashionDemoOptions}
