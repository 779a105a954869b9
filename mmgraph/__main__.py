"""``python -m mmgraph ...`` is the ``mmgraph`` command."""

from mmgraph.cli import entry_point

entry_point()
