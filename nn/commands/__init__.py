"""Subcommands of the ``tapegrad`` command line, one module each (see :mod:`tapegrad.nn.cli`)."""
