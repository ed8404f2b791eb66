"""The drawing object: :class:`GraphDrawing`, a graphviz graph whose images tapegrad paints.

Graphviz lays the graph out (``dot``, found by :mod:`tapegrad.engine._dot`) and
:mod:`tapegrad.engine._render` paints it with matplotlib, so that function blocks are
the course's D in every direction (Graphviz has no D shape).
"""

from __future__ import annotations

import pathlib

import graphviz

from .. import _dot, _render

__all__ = ["GraphDrawing"]


class GraphDrawing(graphviz.Digraph):
    """A :class:`graphviz.Digraph` whose images tapegrad paints itself.

    ``.source`` is the DOT text (function blocks are boxes of ``class`` tg-function
    there); ``.pipe()``, ``.render()`` and inline display in Jupyter lay it out with
    Graphviz (the ``graphviz-pure`` wheel or a system Graphviz) and paint it with
    :mod:`tapegrad.engine._render`, so function blocks are the course's D in every
    direction. Formats: svg, png, jpeg, gif, pdf (vector); any other format Graphviz
    knows (json, plain, dot) comes from Graphviz itself.
    """

    def pipe(self, format=None, *args, encoding=None, quiet=False, dpi=None, scale=1.0, **kw):
        fmt = (format or self.format or "svg").lower()
        if fmt not in _render.FORMATS or args or kw:
            _dot.use_dot()
            return super().pipe(format, *args, encoding=encoding, quiet=quiet, **kw)
        data = _render.render(self.source, fmt, dpi=dpi, scale=scale)
        return data.decode(encoding) if encoding else data

    def render(
        self,
        filename=None,
        directory=None,
        view=False,
        cleanup=False,
        format=None,
        *args,
        outfile=None,
        quiet=False,
        **kw,
    ):
        """Write the DOT source to ``filename`` and the image next to it (or to
        ``outfile``), as :meth:`graphviz.Digraph.render` does; returns the image path."""
        fmt = (format or self.format or "svg").lower()
        if outfile is not None and format is None:
            fmt = pathlib.Path(outfile).suffix.lstrip(".").lower() or fmt
        if fmt not in _render.FORMATS or args or view or kw:
            _dot.use_dot()
            return super().render(
                filename,
                directory,
                view,
                cleanup,
                format,
                *args,
                outfile=outfile,
                quiet=quiet,
                **kw,
            )
        if outfile is not None and filename is None and directory is None:
            out = pathlib.Path(outfile)
            source_path = out.with_suffix(".gv")
            if not cleanup:
                source_path.write_text(self.source, encoding="utf-8")
        else:
            source_path = pathlib.Path(self.save(filename, directory=directory))
            out = (
                pathlib.Path(outfile)
                if outfile is not None
                else source_path.with_name(f"{source_path.name}.{fmt}")
            )
        out.write_bytes(self.pipe(format=fmt))
        if cleanup:
            source_path.unlink(missing_ok=True)
        return str(out)

    # Jupyter display: graphviz's own _repr_mimebundle_ (inherited) picks the
    # mimetypes -- the format set by graphviz.set_jupyter_format (svg unless changed),
    # or IPython display's include= and exclude= -- and calls these, which paint.

    def _repr_image_svg_xml(self) -> str:
        return self.pipe(format="svg", encoding="utf-8")

    def _repr_image_png(self) -> bytes:
        return self.pipe(format="png")

    def _repr_image_jpeg(self) -> bytes:
        return self.pipe(format="jpeg")
