"""Labels in any script (issue 18 item 5): what DejaVu lacks is painted with an
installed font that has it, and what no font has is named in a warning with what to
install. The no-font path runs everywhere (other fonts hidden), and so does a fallback
to a font matplotlib ships (STIX); the CJK and emoji paths run where such a font is
installed (Debian/Ubuntu: apt-get install fonts-noto-cjk fonts-symbola)."""

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from tapegrad import engine
from tapegrad.engine import Value, _fonts

NO_FONT = "\U0010fffd"  # private use, plane 16: in no real font
CJK = "重量"
EMOJI = "🔥"  # not in DejaVu Sans (its emoticons block has 😀)
STIX_ONLY = "⌚"  # in matplotlib's STIXGeneral, not in DejaVu: a fallback on every machine


@pytest.fixture(autouse=True)
def fresh_font_caches():
    for cached in (_fonts._family_for, _fonts._known, _fonts._system):
        cached.cache_clear()
    yield
    for cached in (_fonts._family_for, _fonts._known, _fonts._system):
        cached.cache_clear()


def png_of(label: str) -> np.ndarray:
    g = engine.draw(Value(1.0, label=label))
    return np.asarray(Image.open(io.BytesIO(g.pipe(format="png"))).convert("L"))


def painted(label: str):
    """The PNG of a one-value drawing labelled ``label``, and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = png_of(label)
    return image, [w for w in caught if issubclass(w.category, UserWarning)]


def has_font_for(text: str) -> bool:
    return not _fonts.families(text)[1]


def test_a_glyph_no_font_has_is_named_with_what_to_install():
    image, caught = painted("p" + NO_FONT)
    assert [w.category for w in caught] == [_fonts.MissingGlyphWarning]  # matplotlib's are not
    message = str(caught[0].message)
    assert "U+10FFFD" in message and "install a font" in message and "'p\\U0010fffd'" in message
    assert image.min() < 128  # the drawing is still painted


def test_without_any_font_cjk_and_emoji_labels_warn_naming_packages(monkeypatch):
    hide_other_fonts(monkeypatch)  # a machine with DejaVu only
    assert _fonts.families(CJK + " x") == (list(_fonts.BASE), CJK)
    _, caught = painted(CJK + EMOJI)
    assert [w.category for w in caught] == [_fonts.MissingGlyphWarning]
    message = str(caught[0].message)
    assert "U+91CD" in message and "U+91CF" in message and "U+1F525" in message
    assert "fonts-noto-cjk" in message and "fonts-symbola" in message
    assert "Noto Color Emoji" in message  # why an installed colour emoji font does not help


def test_advice_names_a_font_per_kind_of_script():
    assert "fonts-noto-cjk" in _fonts.advice("한") and "symbola" not in _fonts.advice("한")
    assert "fonts-symbola" in _fonts.advice("🙂") and "cjk" not in _fonts.advice("🙂")
    assert "fonts-noto-core" in _fonts.advice("ሀ")  # Ethiopic


def test_a_font_matplotlib_ships_is_a_fallback_on_every_machine():
    family, missing = _fonts.families("t" + STIX_ONLY)
    assert missing == "" and family[: len(_fonts.BASE)] == list(_fonts.BASE)
    assert len(family) == len(_fonts.BASE) + 1
    image, caught = painted("t" + STIX_ONLY)
    assert caught == []
    with pytest.warns(_fonts.MissingGlyphWarning):
        placeholder = png_of("t" + NO_FONT)
    assert not np.array_equal(image, placeholder)  # a watch, not a placeholder


def test_fonts_matplotlib_cannot_paint_are_passed_over():
    # Last Resort has "every" glyph (a box with the code point); colour-bitmap fonts
    # cannot be sized: neither is ever chosen.
    assert not _fonts._usable("/x/mpl-data/fonts/ttf/LastResortHE-Regular.ttf")
    assert not _fonts._usable("/x/cmsy10.ttf") and _fonts._usable("/x/NotoSansCJK-Regular.ttc")
    assert _fonts._charmap("/nonexistent/font.ttf") == frozenset()


def test_without_fontconfig_the_system_fonts_are_read_directly(monkeypatch):
    with_fontconfig = _fonts._family_for(CJK[0])
    _fonts._family_for.cache_clear()
    monkeypatch.setattr(_fonts.shutil, "which", lambda name: None)
    assert _fonts._fontconfig_candidates(CJK[0]) is None
    assert _fonts._family_for(CJK[0]) == with_fontconfig


def hide_other_fonts(monkeypatch):
    monkeypatch.setattr(_fonts, "_known", lambda: ())
    monkeypatch.setattr(_fonts, "_system", lambda: ())
    monkeypatch.setattr(_fonts, "_fontconfig_candidates", lambda char: None)
    _fonts._family_for.cache_clear()


@pytest.mark.parametrize("label", [CJK, "loss " + EMOJI])
def test_installed_fonts_paint_cjk_and_emoji(label, monkeypatch):
    if not has_font_for(label):
        pytest.skip(f"no font for {label!r} here (apt-get install fonts-noto-cjk fonts-symbola)")
    image, caught = painted(label)
    assert caught == []
    assert len(_fonts.families(label)[0]) == len(_fonts.BASE) + 1
    assert "Mono" not in _fonts.families(label)[0][-1]  # the plain face of a collection
    hide_other_fonts(monkeypatch)
    boxes, caught = painted(label)
    assert [w.category for w in caught] == [_fonts.MissingGlyphWarning]
    assert image.shape != boxes.shape or not np.array_equal(image, boxes)
