"""Backprop as a sequence of drawings in a notebook: :class:`BackpropSteps` and :func:`draw_steps`.

In a Jupyter kernel with ipywidgets the steps show as a slider; every other front end
(nbconvert, GitHub) gets the static images.
"""

from __future__ import annotations

from .. import Value, _dot
from .entry import draw, step_captions
from .image import GraphDrawing
from .stepping import step_of

__all__ = ["BackpropSteps", "draw_steps"]


def _kernel_with_widgets() -> bool:
    """True inside a running IPython kernel that has ipywidgets to show a slider."""
    try:
        import ipywidgets  # noqa: F401
        from IPython.core.getipython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class BackpropSteps:
    """Backprop through ``root`` as a sequence of drawings, one per chain-rule step.

    ``steps[k]`` is ``draw(root, step=k, **options)`` and ``steps.explanations[k]``
    the step in words, naming only what that picture shows. In a Jupyter kernel
    with ipywidgets it shows as a slider that scrubs through the steps; every other
    front end (nbconvert, GitHub, a kernel without ipywidgets) gets the static
    sequence of images, at most ``max_static`` of them.
    """

    def __init__(self, root: Value, max_static: int = 40, **options) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"draw_steps expects a Value, got {type(root).__name__}")
        if isinstance(max_static, bool) or not isinstance(max_static, int) or max_static < 1:
            raise ValueError(f"max_static must be a positive int, got {max_static!r}")
        if "step" in options:
            raise TypeError("draw_steps draws every step; use draw(root, step=k) for one")
        self.root = root
        self.options = options
        self.max_static = max_static
        if root.is_leaf:
            raise ValueError(f"{root!r} is a leaf: there is no backward step to draw")
        # checks the options once, here, not at display time
        self.explanations = step_captions(root, **options)
        self._svg: dict[int, str] = {}
        self._widget = None

    def __len__(self) -> int:
        return len(self.explanations)

    def __getitem__(self, k: int) -> GraphDrawing:
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"step index must be an int, got {k!r}")
        if k < 0:
            k += len(self)
        return draw(self.root, step=k, **self.options)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __repr__(self) -> str:
        return f"<BackpropSteps: {len(self)} steps through {self.root!r}>"

    def svg(self, k: int) -> str:
        """The SVG image of step ``k`` (rendered once, then kept)."""
        if k not in self._svg:
            _dot.use_dot()
            self._svg[k] = self[k].pipe(format="svg", encoding="utf-8", quiet=True)
        return self._svg[k]

    def _caption(self, k: int) -> str:
        return f"{step_of(k, len(self))}: {self.explanations[k]}"

    def _repr_html_(self) -> str:
        import html

        shown = min(len(self), self.max_static)
        parts = [
            f"<div><p><code>{html.escape(self._caption(k))}</code></p>{_strip_xml(self.svg(k))}</div>"
            for k in range(shown)
        ]
        if shown < len(self):
            parts.append(
                f"<p>... {len(self) - shown} more steps (max_static={self.max_static})</p>"
            )
        return "\n".join(parts)

    def widget(self):
        """An ipywidgets slider over the steps with the drawing and its explanation."""
        import ipywidgets as widgets

        if self._widget is None:
            slider = widgets.IntSlider(value=0, min=0, max=len(self) - 1, description="step")
            caption = widgets.HTML()
            picture = widgets.HTML()

            def show(change=None) -> None:
                import html

                k = slider.value
                caption.value = f"<code>{html.escape(self._caption(k))}</code>"
                picture.value = _strip_xml(self.svg(k))

            slider.observe(show, names="value")
            show()
            self._widget = widgets.VBox([slider, caption, picture])
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        # The static images always go in as text/html, so that front ends without a
        # live kernel (nbconvert, GitHub) show them; a kernel with ipywidgets adds
        # the slider, which Jupyter prefers.
        bundle = {"text/plain": repr(self), "text/html": self._repr_html_()}
        if _kernel_with_widgets():
            bundle.update(self.widget()._repr_mimebundle_())
        # IPython display's include= and exclude= choose among them
        wanted = set(bundle) if include is None else set(include)
        wanted -= set(exclude or ())
        return {mimetype: data for mimetype, data in bundle.items() if mimetype in wanted}


def _strip_xml(svg: str) -> str:
    """An SVG document without its XML prolog, to inline in HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def draw_steps(root: Value, *, max_static: int = 40, **options) -> BackpropSteps:
    """Backprop through ``root`` step by step: a slider in Jupyter, images elsewhere.

    ``options`` are :func:`draw`'s (``view``, ``rankdir``, ``theme``, ``derivative``...).
    Drawing never changes any ``.grad``.
    """
    return BackpropSteps(root, max_static=max_static, **options)
