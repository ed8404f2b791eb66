"""``python -m tapegrad``: the ``tapegrad`` command line, as the console script runs it.

This file installs as ``tapegrad/__main__.py``: ``pyproject.toml`` maps the namespace
package ``tapegrad`` to this folder for this one module (the repository keeps no
``tapegrad/`` folder, and ``tapegrad`` stays a namespace package with no ``__init__.py``).
"""

import sys

from tapegrad.nn.cli import main

if __name__ == "__main__":  # not when a tool (Sphinx, pydoc) imports this module
    sys.exit(main())
