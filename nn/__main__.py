"""``python -m tapegrad.nn`` runs the ``tapegrad`` command line."""

import sys

from tapegrad.nn.cli import main

sys.exit(main())
