"""``python -m textloop_ops.cli``: the same as the ``textloop`` console script."""

import sys

from textloop_ops.cli import main

sys.exit(main())
