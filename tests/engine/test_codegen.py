"""The op table's Value methods are committed source, equal to what the table makes."""

import inspect
import pathlib
import re
import subprocess
import sys

from tapegrad.engine import OPS, Value, codegen, value


def test_value_py_holds_the_methods_the_table_generates():
    source = pathlib.Path(value.__file__).read_text(encoding="utf-8")
    assert codegen.generated_value_source(source) == source, (
        "engine/value.py's op methods differ from the table: run python -m tapegrad.engine.codegen"
    )


def test_a_stale_section_is_found_and_rewritten():
    source = pathlib.Path(value.__file__).read_text(encoding="utf-8")
    stale = source.replace("    def tanh(self) -> Value:", "    def tanh_old(self) -> Value:")
    assert stale != source
    assert codegen.generated_value_source(stale) == source


def test_every_row_is_a_method_written_in_the_class():
    source = inspect.getsource(Value)
    for row in OPS.values():
        written = row.operators[0] if row.operators else row.name
        assert re.search(rf"^    def {written}\(self", source, re.M), written
        assert row.name in vars(Value), row.name
        assert getattr(Value, row.name) is getattr(Value, written)
        assert getattr(Value, row.name).__doc__.startswith(row.doc)
    assert "    def __mul__(self, other: Value | float) -> Value:" in source


def test_the_check_command_passes():
    done = subprocess.run(
        [sys.executable, "-m", "tapegrad.engine.codegen", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
