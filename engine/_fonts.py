"""Which fonts paint a label: DejaVu first, then any installed font that has the glyphs.

The painter (:mod:`tapegrad.engine._render`) sets text with matplotlib, which falls
back glyph by glyph along a list of font families. Its list used to be DejaVu Sans
and DejaVu Math TeX Gyre (matplotlib ships both), so a CJK or emoji label came out
as empty boxes even with a font for it installed -- and matplotlib's own font list
is a cache written once, so it often does not know fonts installed later.

:func:`families` gives the list for one label: the two DejaVu fonts, then, for each
character they lack, the first font file that has it: matplotlib's own fonts (STIX),
then the system's -- those fontconfig's ``fc-list :charset=...`` names, or, without
fontconfig, every file ``matplotlib.font_manager.findSystemFonts`` finds, read glyph
map by glyph map. Fonts matplotlib cannot scale (colour-bitmap emoji fonts such as
Noto Color Emoji) and fonts that only seem to have every glyph (Last Resort) are
passed over. Characters no installed font has are returned too; the painter warns
once per label with :class:`MissingGlyphWarning`, naming them and what to install
(:func:`advice`).

Results are cached per process: a font installed while Python runs is seen by the
next process.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import unicodedata
import warnings

__all__ = ["BASE", "MissingGlyphWarning", "families", "advice", "warn_missing"]

#: DejaVu Sans, and for what it lacks (the script 𝓛 of the average loss) a font with
#: the mathematical alphabets; matplotlib ships both.
BASE = ("DejaVu Sans", "DejaVu Math TeX Gyre")

# Words in a font file's name that make it a worse fallback for plain labels.
_UNLIKELY = ("serif", "mono", "bold", "italic", "oblique", "light", "thin", "black", "condensed")


class MissingGlyphWarning(UserWarning):
    """A label has characters that no installed font can paint (drawn as placeholders)."""


@functools.cache
def _charmap(path: str) -> frozenset[int]:
    """The code points font file ``path`` has glyphs for; empty when matplotlib cannot
    use it (unreadable, or bitmap-only such as Noto Color Emoji: it cannot be sized)."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
        font.set_size(12, 72)  # raises for a font with fixed bitmap sizes only
        return frozenset(font.get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def _order(path: str) -> tuple:
    """Plain sans-serif regular faces first, then by file name (deterministic)."""
    name = _name(path)
    return (sum(word in name for word in _UNLIKELY), name, path)


@functools.cache
def _base_chars() -> frozenset[int]:
    from matplotlib import font_manager

    chars: set[int] = set()
    for family in BASE:
        prop = font_manager.FontProperties(family=family)
        chars |= _charmap(font_manager.findfont(prop, fallback_to_default=True))
    return frozenset(chars)


def _usable(path: str) -> bool:
    """Not a font that only seems to have glyphs: matplotlib's Last Resort (a box
    with the code point for every character), STIX's private-use font, or the TeX
    fonts (cmr10, cmsy10...) whose code points are not Unicode."""
    return re.fullmatch(r"lastresort.*|stixnonuni.*|cm[a-z]+10\.[a-z]+", _name(path)) is None


def _name(path: str) -> str:
    return os.path.basename(path).lower()


@functools.cache
def _known() -> tuple[str, ...]:
    """The font files matplotlib's font manager lists (its own, and those it cached)."""
    from matplotlib import font_manager

    return tuple(sorted({e.fname for e in font_manager.fontManager.ttflist}, key=_order))


@functools.cache
def _system() -> tuple[str, ...]:
    """Every font file of the system (fontconfig's list and the usual directories)."""
    from matplotlib import font_manager

    return tuple(sorted(set(font_manager.findSystemFonts()), key=_order))


def _fontconfig_candidates(char: str) -> list[str] | None:
    """Font files fontconfig says have ``char``; None without a working fontconfig."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run(
            [fc_list, f":charset={ord(char):x}", "file"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = {line.strip().rstrip(":") for line in out.splitlines() if line.strip()}
    return sorted(files, key=_order)


def _candidates(char: str) -> list[str]:
    """The font files to try for ``char``: matplotlib's, then the system's (those
    fontconfig names for it, or every one when there is no fontconfig)."""
    system = _fontconfig_candidates(char)
    paths = [*_known(), *(_system() if system is None else system)]
    return [p for p in dict.fromkeys(paths) if _usable(p)]


@functools.cache
def _family_for(char: str) -> str | None:
    """The family of the first usable font file with a glyph for ``char``
    (registered with matplotlib's font manager when it did not know it), or None."""
    from matplotlib import font_manager

    for path in _candidates(char):
        if ord(char) not in _charmap(path):
            continue
        names = _names_of(path)
        if not names:
            font_manager.fontManager.addfont(path)
            names = _names_of(path)
        if names:
            _FILE_OF.setdefault(names[0], path)
            return names[0]
    return None


# The file of each family _family_for chose: later characters try it first.
_FILE_OF: dict[str, str] = {}


def _names_of(path: str) -> list[str]:
    """The families matplotlib knows in font file ``path`` (a .ttc holds several),
    plainest first, then in file order: "Noto Sans CJK JP" (the first face) before
    "Noto Sans CJK KR" and "Noto Sans Mono CJK JP"."""
    from matplotlib import font_manager

    faces = [e for e in font_manager.fontManager.ttflist if e.fname == path]
    faces.sort(key=lambda e: (sum(w in e.name.lower() for w in _UNLIKELY), getattr(e, "index", 0)))
    return [e.name for e in faces]


def _needs_glyph(char: str) -> bool:
    # Spaces, controls and format characters (zero-width joiners) have no glyph of
    # their own to look for.
    return not char.isspace() and unicodedata.category(char) not in ("Cc", "Cf")


def families(text: str) -> tuple[list[str], str]:
    """The font families to set ``text`` in, and the characters no font has.

    The families are :data:`BASE` followed by one installed family per character
    :data:`BASE` lacks (first appearance order, no repeats); the second item holds
    each such character with no usable installed font once, in order."""
    base = _base_chars()
    chosen = list(BASE)
    missing = ""
    for char in dict.fromkeys(text):
        if ord(char) in base or not _needs_glyph(char):
            continue
        if any(ord(char) in _charmap(_FILE_OF[f]) for f in chosen[len(BASE) :]):
            continue  # a font chosen for an earlier character has it: no search
        family = _family_for(char)
        if family is None:
            missing += char
        elif family not in chosen:
            chosen.append(family)
    return chosen, missing


def _is_cjk(code: int) -> bool:
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x3FFFF
    )


def _is_emoji(code: int) -> bool:
    return 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF


def advice(chars: str) -> str:
    """What to install for ``chars`` (one sentence per kind of script among them)."""
    codes = [ord(c) for c in chars]
    tips = []
    if any(_is_cjk(c) for c in codes):
        tips.append(
            "for Chinese, Japanese and Korean, Noto Sans CJK "
            "(Debian/Ubuntu: apt install fonts-noto-cjk; Fedora: dnf install "
            "google-noto-sans-cjk-fonts)"
        )
    if any(_is_emoji(c) for c in codes):
        tips.append(
            "for emoji and symbols, an outline font such as Symbola "
            "(Debian/Ubuntu: apt install fonts-symbola) or Noto Emoji; colour-bitmap "
            "emoji fonts (Noto Color Emoji) cannot be painted by matplotlib"
        )
    if any(not _is_cjk(c) and not _is_emoji(c) for c in codes):
        tips.append(
            "for other scripts, the Noto font of the script "
            "(https://fonts.google.com/noto; Debian/Ubuntu: apt install fonts-noto-core)"
        )
    return "install a font that has them: " + "; ".join(tips)


def warn_missing(chars: str, text: str) -> None:
    """Warn (:class:`MissingGlyphWarning`) that ``chars`` of label ``text`` have no font."""
    names = ", ".join(f"{c!r} (U+{ord(c):04X} {unicodedata.name(c, 'unnamed')})" for c in chars)
    warnings.warn(
        f"no installed font has {names} of the label {text!r}: they are drawn as "
        f"placeholder boxes; {advice(chars)} (tapegrad looks in every font matplotlib "
        "and fontconfig know; a font installed now is seen from the next Python process)",
        MissingGlyphWarning,
        stacklevel=2,
    )
