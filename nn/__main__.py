"""``python -m nn`` runs the ``tapegrad`` command line."""

import sys

from nn.cli import main

sys.exit(main())
