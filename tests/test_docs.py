"""The examples in the docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES_WITH_EXAMPLES = [
    "tapegrad.engine",
    "tapegrad.nn",
    "tapegrad.nn.layers",
    "tapegrad.nn.energy",
]


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0  # the module still has examples to check
    assert result.failed == 0
