"""The README's gallery is what docs/gallery/make_gallery.py draws today: its DOT text
matches the committed .dot files byte for byte (regenerate with
``python docs/gallery/make_gallery.py``), and every picture the README shows exists."""

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "gallery"


def _script():
    spec = importlib.util.spec_from_file_location("make_gallery", GALLERY / "make_gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sources():
    return _script().dot_sources()


def test_the_gallery_script_draws_the_committed_dot_text(sources):
    assert sorted(sources) == sorted(p.stem for p in GALLERY.glob("*.dot"))
    for name, source in sources.items():
        committed = (GALLERY / f"{name}.dot").read_text(encoding="utf-8")
        assert source == committed, (
            f"docs/gallery/{name}.dot is stale: run python docs/gallery/make_gallery.py"
        )


def test_every_gallery_picture_is_committed_and_shown_in_the_readme(sources):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"docs/gallery/(\w+)\.png", readme))
    assert shown == {*sources, "decision_boundary"}
    for name in shown:
        assert (GALLERY / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_script_writes_every_picture(tmp_path):
    written = _script().main(tmp_path)
    assert sorted(p.name for p in written if p.suffix == ".png") == sorted(
        f"{n}.png" for n in [*_script().GRAPHS, "decision_boundary"]
    )
    assert all(p.stat().st_size > 5000 for p in written)
