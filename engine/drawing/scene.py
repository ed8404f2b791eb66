"""The drawing as data: :class:`Scene`, its elements (DOT nodes) and edges, before any DOT."""

from __future__ import annotations

from .. import Scope

__all__ = ["Scene"]


class Scene:
    """The drawing as data: elements (DOT nodes) and edges, before any DOT is written.

    An element is ``(dot id, kind, attributes, home scope)``; ``kind`` says what the
    derivative network and the step highlighting need to know (variable, function,
    cost, block). An edge remembers which graph edges ``(parent, node, position)`` it
    stands for.
    """

    def __init__(self) -> None:
        self.elements: dict[str, dict] = {}
        self.edges: list[dict] = []
        self.edge_index: dict[tuple[str, str], dict] = {}
        self.aligned: list[tuple[str, str]] = []  # (forward, mirror) pairs, same rank

    def add(self, dot_id: str, kind: str, attrs: dict, home: Scope | None, **extra) -> None:
        """Add an element (once: a second ``add`` of the same id changes nothing)."""
        if dot_id not in self.elements:
            self.elements[dot_id] = {"id": dot_id, "kind": kind, "attrs": attrs, "home": home}
            self.elements[dot_id].update(extra)

    def connect(self, src: str, dst: str, graph_edge=None, *, merge: bool = False, **attrs):
        """Add an edge ``src -> dst`` standing for ``graph_edge`` (or, with ``merge``,
        add ``graph_edge`` to the edge already there); returns the edge."""
        if merge and (src, dst) in self.edge_index:
            edge = self.edge_index[(src, dst)]
        else:
            edge = {"src": src, "dst": dst, "attrs": attrs, "graph_edges": []}
            self.edges.append(edge)
            self.edge_index.setdefault((src, dst), edge)
        if graph_edge is not None:
            edge["graph_edges"].append(graph_edge)
        return edge
