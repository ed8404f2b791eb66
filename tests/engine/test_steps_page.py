"""The backprop page, ``save_steps(root, "steps.html")``: its structure (always), and what
a real headless browser shows when it is loaded and driven (when Chromium is installed:
Debian's ``apt-get install chromium``)."""

import base64
import json
import os
import re
import select
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from tapegrad import engine
from tapegrad.engine.drawing.webpage import inline_svg, steps_page

SVG = (
    '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
    '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
    '  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
    '<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="20pt" height="10pt" '
    'viewBox="0 0 20 10" xmlns="http://www.w3.org/2000/svg" version="1.1">\n'
    " <metadata><rdf:RDF><dc:title>Matplotlib</dc:title></rdf:RDF></metadata>\n"
    ' <defs><clipPath id="p1"><rect width="20" height="10"/></clipPath>'
    '<path id="glyph-a" d="M 0 0 L 1 1"/></defs>\n'
    ' <g id="figure_1" clip-path="url(#p1)"><use xlink:href="#glyph-a"/></g>\n'
    "</svg>\n"
)


def neuron():
    root, _ = engine.parse_expression(
        "tanh(x1*w1 + x2*w2 + b)", {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8814}
    )
    root.label = "out"
    return root


def highlighted(page_text, k):
    """The outlines that frame ``k`` of the page file paints in the highlight colour."""
    section = re.search(rf'data-step="{k}">(.*?)</section>', page_text, re.S).group(1)
    return [
        re.sub(r"\s+", " ", d)
        for d, style in re.findall(r'<path d="([^"]*)"[^>]*?style="([^"]*)"', section)
        if "stroke: #ff7f00" in style
    ]


# -- the page's structure, no browser ----------------------------------------------------


class Page(HTMLParser):
    """What a test needs of the page: elements by tag, with attributes and the section
    each lies in, and the text of each caption."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements = []  # (tag, attrs, section index or None)
        self.section = None
        self.captions = []
        self.in_caption = False
        self.scripts = []
        self.in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = int(attrs["data-step"])
        self.elements.append((tag, attrs, self.section))
        self.in_caption = tag == "figcaption"
        self.in_script = tag == "script"
        if self.in_caption:
            self.captions.append("")
        if self.in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None
        if tag == "figcaption":
            self.in_caption = False
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_caption:
            self.captions[-1] += data
        if self.in_script:
            self.scripts[-1] += data

    def tags(self, name):
        return [(attrs, section) for tag, attrs, section in self.elements if tag == name]


def test_the_page_holds_every_frame_its_caption_and_the_controls():
    captions = ["step 0 (0–2): dc/dc = 1", "step 1 (0–2): a < b & c", "step 2 (0–2): done"]
    page = Page(steps_page([SVG] * 3, captions, title="Backprop <3"))
    assert [a["data-step"] for a, _ in page.tags("section")] == ["0", "1", "2"]
    assert page.captions == captions  # escaped in the HTML, the same text in the browser
    assert [s for _, s in page.tags("svg")] == [0, 1, 2]  # one picture in each section
    (slider, _), *others = [(a, s) for a, s in page.tags("input") if a.get("type") == "range"]
    assert not others and (slider["min"], slider["max"], slider["value"]) == ("0", "2", "0")
    buttons = {a["id"] for a, _ in page.tags("button")}
    assert buttons == {"first", "previous", "play", "next", "last"}
    assert page.tags("title") and "Backprop &lt;3" in steps_page([SVG], ["c"], title="Backprop <3")


def test_the_page_is_self_contained():
    """No network: nothing fetched (no src, no link, no import, no url() but to the
    page's own ids), the script inline; every id unique and every reference resolved
    inside its own frame."""
    text = steps_page([SVG] * 4, ["a", "b", "c", "d"], title="t")
    page = Page(text)
    assert not page.tags("link") and not page.tags("img") and not page.tags("iframe")
    assert all("src" not in attrs for _, attrs, _ in page.elements)
    assert len(page.scripts) == 2 and all(script.strip() for script in page.scripts)
    assert all("src" not in attrs for attrs, _ in page.tags("script"))
    assert "@import" not in text and not re.search(r"url\((?!#)", text)
    assert not re.search(r"(?:href|src)=\"(?:https?:)?//", text)
    ids = [(attrs["id"], section) for _, attrs, section in page.elements if "id" in attrs]
    assert len(ids) == len({i for i, _ in ids})
    where = dict(ids)
    for _, attrs, section in page.elements:
        for value in attrs.values():
            for target in re.findall(r"^#(.+)$|url\(#([^)]+)\)", value or ""):
                target = target[0] or target[1]
                if section is not None:
                    assert where[target] == section, (target, section)


def test_inline_svg_drops_the_prolog_and_prefixes_ids():
    out = inline_svg(SVG, "s3-")
    assert out.startswith("<svg") and "<?xml" not in out and "<metadata>" not in out
    assert 'id="s3-p1"' in out and "url(#s3-p1)" in out and 'xlink:href="#s3-glyph-a"' in out
    with pytest.raises(ValueError, match="not an SVG document"):
        inline_svg("<html></html>", "s0-")


@pytest.mark.parametrize(
    "frames, captions, title, error, message",
    [
        ([], [], "t", ValueError, "at least one frame"),
        ([SVG, SVG], ["a"], "t", ValueError, "2 frames but 1 captions"),
        ([SVG], "a", "t", TypeError, "captions must be a sequence of str"),
        ([b"<svg/>"], ["a"], "t", TypeError, "frames must be a sequence of str"),
        ([SVG], ["a"], None, TypeError, "title must be a str"),
    ],
)
def test_steps_page_refuses_bad_arguments(frames, captions, title, error, message):
    with pytest.raises(error, match=message):
        steps_page(frames, captions, title=title)


# -- save_steps(root, "steps.html") -------------------------------------------------------


@pytest.mark.parametrize("view", ["values", "blocks"])
def test_save_steps_writes_one_page_of_every_step(tmp_path, view):
    root = neuron()
    texts = engine.draw_steps(root, view=view).explanations  # in the picture's words
    (path,) = engine.save_steps(root, tmp_path / "steps.html", view=view)
    assert path == tmp_path / "steps.html" and list(tmp_path.iterdir()) == [path]
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert page.captions == [f"step {k} (0–8): {t}" for k, t in enumerate(texts)]
    assert [s for _, s in page.tags("svg")] == list(range(9))
    sizes = {(a["width"], a["height"]) for a, _ in page.tags("svg")}
    assert len(sizes) == 1  # one canvas: the picture does not jump from step to step
    assert "<title>Backprop step by step: out</title>" in text
    for k in range(9):  # each frame paints its own step's edge in the highlight colour
        assert highlighted(text, k)
    assert len({tuple(highlighted(text, k)) for k in range(9)}) == 9
    assert not page.tags("link") and not re.search(r"url\((?!#)", text)
    assert (
        engine.save_steps(root, tmp_path / "again.html", view=view)[0].read_text(encoding="utf-8")
        == text
    )  # deterministic: the same page every time


def test_save_steps_page_without_captions_and_save_graph_refusing_html(tmp_path):
    root = neuron()
    (path,) = engine.save_steps(root, tmp_path / "steps.html", caption=False)
    assert Page(path.read_text(encoding="utf-8")).captions == [f"step {k} (0–8)" for k in range(9)]
    (path,) = engine.save_steps(root, tmp_path / "titled.html", title="Neuron <1>")
    assert "<title>Neuron &lt;1&gt;</title>" in path.read_text(encoding="utf-8")
    for bad, where in ((3, "steps.html"), ("Neuron", "steps.pdf")):
        with pytest.raises(TypeError, match=r"title is the heading of an \.html page"):
            engine.save_steps(root, tmp_path / where, title=bad)
    assert not (tmp_path / "steps.pdf").exists()
    with pytest.raises(ValueError, match="written by save_steps"):
        engine.save_graph(root, tmp_path / "one.html")
    assert not (tmp_path / "one.html").exists()


# -- in a real browser -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags that work as root on a machine without network or GPU.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
]


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe
    (``--remote-debugging-pipe``: commands in on fd 3, replies out on fd 4, each a JSON
    message ended by a NUL byte) -- no driver, no library, no port."""

    def __init__(self, profile):
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        def on_fds_3_and_4():
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=on_fds_3_and_4,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            attached = self.call("Target.attachToTarget", targetId=target, flatten=True)
            self.session = attached["sessionId"]
            self.call("Page.enable", session=True)
        except BaseException:
            self.close()
            raise

    def _message(self):
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], 60)
            assert ready, "Chromium did not answer within 60 s"
            chunk = os.read(self._replies, 1 << 20)
            assert chunk, "Chromium closed its pipe"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=False, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event):
        while True:
            while self.events:
                if self.events.pop(0).get("method") == event:
                    return
            self.events.append(self._message())

    def open(self, url):
        # by way of a blank page: a new address that differs only in its #fragment
        # would not load the page again (no load event)
        for address in ("about:blank", url):
            self.events.clear()
            self.call("Page.navigate", session=True, url=address)
            self.wait_for("Page.loadEventFired")

    def js(self, expression):
        """The value of a JavaScript expression (a promise's, once it settles)."""
        result = self.call(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        return result["result"].get("value")

    def press_and_release(self, method, down, up, **params):
        for kind in (down, up):
            self.call(method, session=True, type=kind, **params)

    def key(self, key):
        """A key on the focused element: ``ArrowRight``, ``ArrowLeft``, ``End``."""
        code = {"ArrowRight": 39, "ArrowLeft": 37, "End": 35}[key]
        self.press_and_release(
            "Input.dispatchKeyEvent",
            "keyDown",
            "keyUp",
            key=key,
            code=key,
            windowsVirtualKeyCode=code,
        )

    def click(self, x, y):
        """A left click at ``(x, y)``, CSS pixels from the page's top left."""
        self.press_and_release(
            "Input.dispatchMouseEvent",
            "mousePressed",
            "mouseReleased",
            x=x,
            y=y,
            button="left",
            clickCount=1,
        )

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close")
        except (AssertionError, OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)


# What the page shows: the sections not hidden, the first one's caption, whether its
# picture is drawn (a box of real size), the outlines painted in the highlight colour,
# whether the controls show, the slider, the counter and the address.
SHOWN = """(() => {
  const shown = [...document.querySelectorAll("section.step")].filter(
    (s) => getComputedStyle(s).display !== "none");
  const box = shown.length ? shown[0].querySelector("svg").getBoundingClientRect() : null;
  return {
    steps: shown.map((s) => Number(s.dataset.step)),
    caption: shown.length ? shown[0].querySelector("figcaption").textContent : null,
    drawn: box !== null && box.width > 100 && box.height > 20,
    highlight: shown.length ? [...shown[0].querySelectorAll("path")]
      .filter((p) => (p.getAttribute("style") || "").includes("stroke: #ff7f00"))
      .map((p) => p.getAttribute("d").replace(/\\s+/g, " ")) : [],
    controls: getComputedStyle(document.getElementById("controls")).display !== "none",
    slider: Number(document.getElementById("slider").value),
    counter: document.getElementById("counter").textContent,
    address: location.hash,
  };
})()"""


# Where the shown step's picture lies and its size, in CSS pixels, the window's height
# and the page's width. A resize reaches the page as an event some time after the
# browser is told of it (later under load), so this waits until the window has the
# height the test gave it, then lets the page handle a resize (fit() again) at once.
FRAME_BOX = """new Promise((done) => {
  const until = Date.now() + 10000;
  (function wait() {
    if (window.innerHeight === %d || Date.now() > until) { done(); }
    else { setTimeout(wait, 20); }
  })();
}).then(() => {
  window.dispatchEvent(new Event("resize"));
  const svg = document.querySelector("section.step.current svg");
  const r = svg.getBoundingClientRect();
  return {bottom: Math.round(r.bottom + window.scrollY), height: Math.round(r.height),
          width: Math.round(r.width), window: window.innerHeight,
          page: document.getElementById("frames").clientWidth};
})"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install -y chromium")
def test_in_a_browser_the_page_opens_on_step_0_and_the_controls_move_it(tmp_path):
    root = neuron()
    (page,) = engine.save_steps(root, tmp_path / "steps.html")
    texts = engine.draw_steps(root).explanations  # in the picture's words
    captions = [f"step {k} (0–8): {text}" for k, text in enumerate(texts)]
    frames = page.read_text(encoding="utf-8")
    assert highlighted(frames, 0) and highlighted(frames, 0) != highlighted(frames, 3)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        shown = browser.js(SHOWN)
        assert shown["steps"] == [0] and shown["caption"] == captions[0]
        assert shown["drawn"] and shown["highlight"] == highlighted(frames, 0)
        assert shown["controls"] and (shown["slider"], shown["counter"]) == (0, "step 0 (0–8)")
        browser.screenshot(tmp_path / "step0.png")

        # the keyboard on the slider, as a user moves it
        browser.js('document.getElementById("slider").focus()')
        for _ in range(3):
            browser.key("ArrowRight")
        shown = browser.js(SHOWN)
        assert shown["steps"] == [3] and shown["caption"] == captions[3], shown
        assert shown["drawn"] and shown["highlight"] == highlighted(frames, 3)
        assert shown["counter"] == "step 3 (0–8)" and shown["address"] == "#step=3"
        browser.screenshot(tmp_path / "step3.png")

        # a mouse click on the slider's track near its end, then on "previous"
        track = browser.js(
            "(() => { const r = document.getElementById('slider').getBoundingClientRect();"
            " return [r.right - 4, r.top + r.height / 2]; })()"
        )
        browser.click(*track)
        assert browser.js(SHOWN)["steps"] == [8]
        button = browser.js(
            "(() => { const r = document.getElementById('previous').getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        browser.click(*button)
        shown = browser.js(SHOWN)
        assert shown["steps"] == [7] and shown["caption"] == captions[7]
        assert shown["slider"] == 7 and shown["highlight"] == highlighted(frames, 7)

        # "fit to window" scales the picture up or down to the largest size that fits:
        # in a short window it ends above the window's bottom edge, in a tall one it
        # fills the page's width; unticked, it is drawn at its own size
        browser.js('document.getElementById("fit").click()')
        natural = browser.js(FRAME_BOX % 800)
        browser.js('document.getElementById("fit").click()')
        for width, height in ((1280, 800), (2400, 2000), (1280, 360)):
            browser.call(
                "Emulation.setDeviceMetricsOverride",
                session=True,
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            fitted = browser.js(FRAME_BOX % height)
            assert fitted["window"] == height and fitted["bottom"] <= height, fitted
            # as large as fits: the page's width or the window's height (16 px margin)
            assert fitted["width"] >= fitted["page"] - 1 or fitted["bottom"] >= height - 18
            assert fitted["width"] / fitted["height"] == pytest.approx(
                natural["width"] / natural["height"], rel=0.02
            )
            if width == 2400:
                assert fitted["width"] > natural["width"] * 1.3, (fitted, natural)  # up
        short = browser.js(FRAME_BOX % 360)
        assert short["bottom"] <= short["window"] and short["height"] > 100, short
        assert short["height"] < natural["height"], (short, natural)
        browser.js('document.getElementById("fit").click()')
        unticked = browser.js(FRAME_BOX % 360)
        assert unticked["bottom"] > unticked["window"] and unticked == {
            **natural,
            "window": 360,
        }, unticked
        browser.js('document.getElementById("fit").click()')
        assert browser.js(FRAME_BOX % 360) == short
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)

        # an address that names a step opens the page there
        browser.open(page.as_uri() + "#step=5")
        shown = browser.js(SHOWN)
        assert shown["steps"] == [5] and shown["caption"] == captions[5]

        # without JavaScript: every step with its caption, one below the other, no controls
        browser.call("Emulation.setScriptExecutionDisabled", session=True, value=True)
        browser.open(page.as_uri())
        shown = browser.js(SHOWN)
        assert shown["steps"] == list(range(9)) and not shown["controls"]
    finally:
        browser.close()
