"""Backprop in the browser: one self-contained HTML page of every chain-rule step.

``save_steps(root, "steps.html")`` (and ``tapegrad graph --steps steps.html``) paint
each step's drawing as SVG, exactly as the ``.svg``/``.pdf`` frames, and
:func:`steps_page` puts them in one HTML file with a slider, buttons and each step's
caption. The file needs nothing else: no network (no fonts, scripts or styles are
fetched; the SVG text is drawn as outlines), no Jupyter kernel, no server -- a
teacher opens it from disk in any browser or puts it on a course site.

* The page opens on step 0. ``steps.html#step=3`` opens on step 3, and moving
  through the steps keeps the address in step (so a link can point at one step).
* The slider, the buttons (first, previous, play/pause, next, last) and the keys
  (←/→, Home/End, space to play) move through the steps; the counter reads
  ``step k (0–n)`` as the captions and ``draw(root, step=k)`` count.
* "fit to window" (on by default) scales the picture, up or down, to the largest size
  that fits the page's width and the window's height below the controls and the
  caption (as a slide is shown); off, it is drawn at its own size.
* Without JavaScript, and when printed, the page shows every step one below the
  other, each with its caption (and no controls).

Each frame is its own ``<section class="step" data-step="k">`` holding the caption
(``<figcaption>``) and the inline ``<svg>``. Element ids inside an SVG are prefixed
with ``s{k}-`` so that the frames' clip paths and glyphs never collide.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

__all__ = ["steps_page", "inline_svg"]

#: What a painted SVG file starts with that an inline ``<svg>`` must not carry.
_PROLOG = re.compile(r"\A\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(href="#|url\(#)([^")]+)')


def inline_svg(svg: str, prefix: str) -> str:
    """An SVG document as an element to put inside HTML: no XML prolog, doctype or
    metadata, and every ``id`` (and every ``href="#..."`` / ``url(#...)`` pointing at
    one) prefixed with ``prefix``, so several drawings can share one page.

    Raises ValueError if ``svg`` has no ``<svg`` element."""
    body = _METADATA.sub("", _PROLOG.sub("", svg, count=1), count=1)
    if not body.startswith("<svg"):
        raise ValueError("not an SVG document: it does not start with an <svg> element")
    body = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', body)
    return _REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", body)


def steps_page(frames: Sequence[str], captions: Sequence[str], *, title: str) -> str:
    """The HTML page of a backprop sequence: frame ``k`` is the SVG document
    ``frames[k]`` with the caption ``captions[k]`` (plain text, escaped here).

    Raises TypeError unless ``frames`` and ``captions`` are sequences of str and
    ``title`` a str, ValueError when they are empty or of different lengths."""
    for name, items in (("frames", frames), ("captions", captions)):
        if isinstance(items, str) or not all(isinstance(item, str) for item in items):
            raise TypeError(f"{name} must be a sequence of str")
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    if not frames:
        raise ValueError("a steps page needs at least one frame")
    if len(frames) != len(captions):
        raise ValueError(f"{len(frames)} frames but {len(captions)} captions")
    last = len(frames) - 1
    sections = "\n".join(
        f'<section class="step{" current" if k == 0 else ""}" id="step-{k}" data-step="{k}">\n'
        f'<figure>\n<figcaption class="caption">{html.escape(caption)}</figcaption>\n'
        f"{inline_svg(svg, f's{k}-')}\n</figure>\n</section>"
        for k, (svg, caption) in enumerate(zip(frames, captions))
    )
    return _PAGE.format(
        title=html.escape(title),
        last=last,
        sections=sections,
        style=_STYLE,
        script=_SCRIPT,
    )


_STYLE = """
:root { color-scheme: light; --accent: #ff7f00; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: #1a1a1a; background: #ffffff; }
main { padding: 12px 20px 24px; }
h1 { font-size: 1.25rem; font-weight: 600; margin: 0 0 10px; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center;
            position: sticky; top: 0; background: #ffffff; padding: 6px 0; z-index: 1; }
html:not(.js) .controls { display: none; }
.controls button { font: inherit; min-width: 2.6em; padding: 4px 10px; cursor: pointer;
                   border: 1px solid #888; border-radius: 6px; background: #f4f4f4; }
.controls button:hover { background: #e8e8e8; }
.controls button:focus-visible, #slider:focus-visible { outline: 3px solid var(--accent); }
#slider { flex: 1 1 240px; accent-color: var(--accent); }
#counter { font-variant-numeric: tabular-nums; min-width: 7em; }
.controls label { user-select: none; }
.step { margin: 0 0 28px; }
html.js .step { display: none; }
html.js .step.current { display: block; }
.status { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
figure { margin: 0; }
.caption { font: 15px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
           white-space: pre-wrap; overflow-wrap: anywhere; margin: 6px 0 10px;
           padding: 6px 10px; border-left: 4px solid var(--accent); background: #fff6ec; }
.frames { overflow-x: auto; }
html:not(.js) svg { max-width: 100%; height: auto; }
@media print {
  .controls { display: none; }
  html.js .step { display: block; }
  .step { break-inside: avoid; }
  svg { max-width: 100%; height: auto; }
}
"""

# Plain JavaScript, no library: show one section, keep the slider, the counter and
# the address (#step=k) in step with it.
_SCRIPT = """
(function () {
  "use strict";
  var steps = Array.prototype.slice.call(document.querySelectorAll("section.step"));
  var last = steps.length - 1;
  var slider = document.getElementById("slider");
  var counter = document.getElementById("counter");
  var play = document.getElementById("play");
  var status = document.getElementById("status");
  var frames = document.getElementById("frames");
  var timer = null;
  var current = -1;

  // "fit to window": the current picture scaled, up or down, to the largest size that
  // fits the page's width and the window's height below the controls and its caption
  function fit() {
    var svg = steps[current].querySelector("svg");
    var box = svg.viewBox.baseVal;
    svg.style.width = svg.style.height = "";
    if (!frames.classList.contains("fit") || !box || !box.width || !box.height) { return; }
    var top = svg.getBoundingClientRect().top + window.scrollY;
    var room = Math.max(160, window.innerHeight - top - 16);
    var scale = Math.min(frames.clientWidth / box.width, room / box.height);
    svg.style.width = Math.floor(box.width * scale) + "px";
    svg.style.height = Math.floor(box.height * scale) + "px";
  }

  function fromAddress() {
    var match = /^#step=(\\d+)$/.exec(window.location.hash);
    return match ? Math.min(parseInt(match[1], 10), last) : 0;
  }

  function show(k, keepAddress) {
    k = Math.max(0, Math.min(last, k));
    if (k === current) { return; }
    current = k;
    steps.forEach(function (section, i) { section.classList.toggle("current", i === k); });
    status.textContent = steps[k].querySelector("figcaption").textContent;
    slider.value = String(k);
    slider.setAttribute("aria-valuetext", "step " + k + " of 0 to " + last);
    counter.textContent = "step " + k + " (0\\u2013" + last + ")";
    document.body.setAttribute("data-step", String(k));
    fit();
    if (!keepAddress && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "#step=" + k);
    }
  }

  function stop() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
    play.textContent = "\\u25b6 play";
    play.setAttribute("aria-pressed", "false");
  }

  function start() {
    if (current === last) { show(0); }
    play.textContent = "\\u2016 pause";
    play.setAttribute("aria-pressed", "true");
    timer = window.setInterval(function () {
      if (current >= last) { stop(); } else { show(current + 1); }
    }, 1500);
  }

  slider.addEventListener("input", function () { stop(); show(parseInt(slider.value, 10)); });
  document.getElementById("first").addEventListener("click", function () { stop(); show(0); });
  document.getElementById("previous").addEventListener("click", function () {
    stop(); show(current - 1);
  });
  document.getElementById("next").addEventListener("click", function () {
    stop(); show(current + 1);
  });
  document.getElementById("last").addEventListener("click", function () { stop(); show(last); });
  play.addEventListener("click", function () { if (timer === null) { start(); } else { stop(); } });
  document.getElementById("fit").addEventListener("change", function (event) {
    frames.classList.toggle("fit", event.target.checked);
    fit();
  });
  window.addEventListener("resize", fit);
  document.addEventListener("keydown", function (event) {
    if (event.target === slider || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var moves = { ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: last };
    if (event.key in moves) {
      event.preventDefault(); stop(); show(moves[event.key]);
    } else if (event.key === " " && event.target.tagName !== "BUTTON") {
      event.preventDefault(); play.click();
    }
  });
  window.addEventListener("hashchange", function () { stop(); show(fromAddress(), true); });

  show(fromAddress(), true);
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tapegrad">
<title>{title}</title>
<script>document.documentElement.className = "js";</script>
<style>{style}</style>
</head>
<body data-step="0">
<main>
<h1>{title}</h1>
<div class="controls" id="controls">
<button type="button" id="first" title="first step (Home)" aria-label="first step">|\u25c0</button>
<button type="button" id="previous" title="previous step (\u2190)"
 aria-label="previous step">\u25c0</button>
<button type="button" id="play" aria-pressed="false" title="play (space)">\u25b6 play</button>
<button type="button" id="next" title="next step (\u2192)" aria-label="next step">\u25b6</button>
<button type="button" id="last" title="last step (End)" aria-label="last step">\u25b6|</button>
<input type="range" id="slider" min="0" max="{last}" value="0" step="1" aria-label="step">
<output id="counter" for="slider">step 0 (0\u2013{last})</output>
<label><input type="checkbox" id="fit" checked> fit to window</label>
</div>
<p class="status" id="status" aria-live="polite"></p>
<div class="frames fit" id="frames">
{sections}
</div>
</main>
<script>{script}</script>
</body>
</html>
"""
