"""``python -m tapegrad.nn`` runs the ``tapegrad`` command line."""

import sys

from tapegrad.nn.cli import main

if __name__ == "__main__":  # not when a tool (Sphinx, pydoc) imports this module
    sys.exit(main())
