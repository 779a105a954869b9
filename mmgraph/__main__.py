"""``python -m mmgraph ...`` is the ``mmgraph`` command."""

import sys

from mmgraph.cli import main

sys.exit(main())
