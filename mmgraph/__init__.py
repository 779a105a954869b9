"""mmgraph: graph-based multimodal recommendation.

Stages, each a subpackage with a small public API: ``data`` → ``encoders`` (top-level package)
→ ``graph`` → ``models`` (teacher, student) → ``distill`` / ``training`` → ``evaluation`` →
``index``; ``pipeline`` wires them over a run directory and ``cli`` exposes them.
"""

from mmgraph.errors import ConfigError, DataError, MmgraphError, RunDirError

__version__ = "0.1.0"
__all__ = ["MmgraphError", "DataError", "ConfigError", "RunDirError", "__version__"]
