"""Subcommands of the ``tapegrad`` command line, one module each (see :mod:`nn.cli`)."""
