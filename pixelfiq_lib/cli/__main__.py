"""``python -m pixelfiq_lib.cli``: the ``pixelfiq`` command."""

import sys

from .main import main

sys.exit(main())
