"""mmgraph: graph-based multimodal recommendation.

The front door, each name imported on first use (serving never loads torch)::

    import mmgraph
    cfg = mmgraph.load_config("configs/quickstart.yaml")
    metrics = mmgraph.run(cfg)                        # every stage, resumable
    recommender = mmgraph.Recommender.load(cfg.run_dir)
    ids, scores = recommender.recommend_arrays(["1"], k=10)

    recommender = mmgraph.fit(ratings, movies)        # the same from DataFrames, no YAML
    mmgraph.evaluate(recommender, later_ratings)      # on a held-out frame of your own

Layers, each pointing down only: ``errors``/``io`` → ``data`` → ``encoders`` (top-level
package), ``graph``, ``models``, ``distill``, ``training``, ``evaluation``, ``index`` → ``run``
(the run format) → ``pipeline`` (writes runs) and serving (``recommender``, ``serve``,
``export``: read runs) → ``cli``. docs/architecture.md draws them.
"""

from mmgraph.errors import ConfigError, DataError, MmgraphError, RunDirError
from mmgraph.lazy import lazy_exports

__version__ = "0.1.0"
__all__ = ["MmgraphError", "DataError", "ConfigError", "RunDirError", "Recommender",
           "load_config", "run", "fit", "evaluate", "__version__"]

#: Front-door name → (module, attribute), imported when first used.
_LAZY = {"Recommender": ("mmgraph.recommender", "Recommender"),
         "load_config": ("mmgraph.config", "load_config"),
         "run": ("mmgraph.pipeline", "run_all"),
         "fit": ("mmgraph.fit_frames", "fit"),
         "evaluate": ("mmgraph.holdout", "evaluate")}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
