"""Writing a Scene as DOT: nested clusters per scope, siblings in order, dense layers thin."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from .. import Scope
from .image import GraphDrawing
from .scene import Scene
from .text import plain
from .themes import new_graph
from .wrap import NO_WRAP, Wrap, ordered

__all__ = ["emit"]


def _sibling_groups(elements, parallel) -> list[list[str]]:
    """Ids of collapsed blocks that are numbered siblings working side by side
    (``neurons.0``, ``neurons.1``, ...: ``parallel(ids)``, none feeding another) in
    one scope, per base name, in numeric order. (``layers.0``, ``layers.1`` feed
    each other: they stay in sequence.)"""
    groups: dict[str, list[tuple[int, str]]] = {}
    for element in elements:
        s = element.get("scope")
        if s is None:
            continue
        m = re.fullmatch(r"(.*?)\.?\[?(\d+)\]?", s.name)
        if m:
            groups.setdefault(m.group(1), []).append((int(m.group(2)), element["id"]))
    ordered = [[i for _, i in sorted(g)] for g in groups.values() if len(g) > 1]
    return [g for g in ordered if parallel(g)]


@dataclass
class _Clusters:
    """The scopes as nested clusters: the elements living directly in each scope, each
    scope's child scopes, each scope's cluster number, and which sibling blocks work
    side by side (``parallel``)."""

    by_home: dict[Scope | None, list[dict]]
    children: dict[Scope | None, list[Scope]]
    ids: dict[Scope, int]
    parallel: Callable[[list[str]], bool]
    upward: bool  # left to right: a chain of invisible edges runs upward
    #: folded: the rows each scope's elements (its child scopes' included) are
    #: drawn in (:attr:`~.wrap.Wrap.order`), and each element's row; a scope's
    #: cluster is written once per row it spans. Empty when nothing is folded.
    rows: dict[Scope, list[int]]
    row: dict[str, int]


def _clusters(scene: Scene, rankdir: str, wrap: Wrap = NO_WRAP) -> _Clusters:
    """Group the elements by the scope they live in (and, folded by ``wrap``, by row)."""
    by_home: dict[Scope | None, list[dict]] = {}
    scopes: list[Scope] = []
    seen: set[Scope] = set()
    for element in scene.elements.values():
        home = element["home"]
        by_home.setdefault(home, []).append(element)
        if home is not None:
            for s in home.chain():
                if s not in seen:
                    seen.add(s)
                    scopes.append(s)
    children: dict[Scope | None, list[Scope]] = {}
    for s in scopes:
        children.setdefault(s.parent, []).append(s)
    # Which block's output feeds which block: siblings that feed each other are a
    # sequence (layers), the others work side by side (neurons).
    producer = {e["dst"]: e["src"] for e in scene.edges if e["src"].startswith("m")}
    feeds = {(producer.get(e["src"]), e["dst"]) for e in scene.edges}

    def parallel(group: list[str]) -> bool:
        members = set(group)
        return not any(a in members and b in members for a, b in feeds)

    ids = {s: i for i, s in enumerate(scopes)}
    row = wrap.order if wrap.folds else {}
    spans: dict[Scope, set[int]] = {}
    for element in scene.elements.values() if row else ():
        for s in element["home"].chain() if element["home"] is not None else ():
            spans.setdefault(s, set()).add(row.get(element["id"], 0))
    rows = {s: sorted(k) for s, k in spans.items()}
    return _Clusters(by_home, children, ids, parallel, rankdir in ("LR", "RL"), rows, row)


def _write_scope(
    graph, home: Scope | None, clusters: _Clusters, t: dict, band: int | None = None
) -> None:
    """The nodes of one scope, then each child scope as a nested cluster (only the
    nodes drawn in row ``band``, unless None). A folded drawing's scope is written as one
    cluster per row it spans, each labelled with its name: Graphviz orders the rows
    only when no cluster straddles two of them (``graphviz-pure`` lays a straddling
    cluster out as one block, its rows in any order). (A module function, not a
    recursive closure: that would be a reference cycle keeping the drawn graph
    alive until the next garbage collection.)"""
    here = clusters.by_home.get(home, [])
    if band is not None:
        here = [e for e in here if clusters.row.get(e["id"], 0) == band]
    for element in here:
        graph.node(element["id"], **element["attrs"])
    # Collapsed siblings (neurons.0, neurons.1, ...) in their numeric order, not in
    # whatever order the crossing minimiser picked: same rank, invisible edges.
    # (Left to right, an invisible edge a -> b puts b above a: the chain runs upward.)
    for group in _sibling_groups(here, clusters.parallel):
        with graph.subgraph() as row:
            row.attr(rank="same")
            for a, b in itertools.pairwise(reversed(group) if clusters.upward else group):
                row.edge(a, b, style="invis")
    # flowing vertically, a scope's label on the side its output leaves by, not
    # where its inputs come in ("b": dot turns it round for BT), in the corner,
    # clear of the output arrow that leaves from the middle
    exit_side = {} if clusters.upward else {"labelloc": "b", "labeljust": "r"}
    for s in clusters.children.get(home, []):
        if not clusters.row:  # not folded: one cluster
            with graph.subgraph(name=f"cluster_{clusters.ids[s]}") as sub:
                sub.attr(label=plain(s.name), style="rounded", **exit_side, **t["cluster"])
                _write_scope(sub, s, clusters, t)
            continue
        spans = clusters.rows[s]
        for k in spans if band is None else [band] if band in spans else []:
            # a continued scope's label below it, clear of the arrow from the row above
            below = {"labelloc": "b"} if not clusters.upward or k != spans[0] else {}
            with graph.subgraph(name=f"cluster_{clusters.ids[s]}_{k}") as sub:
                sub.attr(label=plain(s.name), style="rounded", **below, **t["cluster"])
                _write_scope(sub, s, clusters, t, k)


_DENSE = 8  # edges into or out of one node from which they are drawn thin


def emit(scene: Scene, rankdir: str, t: dict, wrap: Wrap = NO_WRAP) -> GraphDrawing:
    """The DOT of ``scene``, flowing along ``rankdir``, in theme ``t``, folded by ``wrap``."""
    g = new_graph("tapegrad", rankdir, t)
    g.attr("edge", fontname="Helvetica", fontcolor=t["text"], fontsize="11")
    for element in scene.elements.values():
        hidden = element.get("hidden_params") if element["kind"] == "block" else None
        if hidden:
            s = "s" if len(hidden) != 1 else ""
            label = f"{element['scope'].name}\n{len(hidden)} parameter{s}"
            element["attrs"]["label"] = plain(label)
    clusters = _clusters(scene, rankdir, wrap)
    if wrap.folds:
        wrap.write_rows(g, lambda row, k: _write_scope(row, None, clusters, t, k))
    else:
        _write_scope(g, None, clusters, t)
    # The derivative network mirrors the graph: each gradient node and derivative
    # module sits level with what it mirrors (when both are outside clusters, which
    # Graphviz cannot align across; a folded drawing pins every element's rank).
    for forward, mirrored in [] if wrap.folds else scene.aligned:
        if scene.elements[forward]["home"] is None:
            with g.subgraph() as level:
                level.attr(rank="same")
                level.node(forward)
                level.node(mirrored)
    _write_edges(g, scene, t, wrap, rankdir)
    records = {i for i, e in scene.elements.items() if e["attrs"].get("shape") == "record"}
    wrap.write_constraints(g, rankdir, records, _input_groups(scene, wrap))
    return g


def _input_groups(scene: Scene, wrap: Wrap) -> list[list[str]]:
    """The graph's inputs (the variables nothing leads to) of each row, rank and
    scope, in the scene's order, the order they are drawn in; and likewise the ops
    that read them (so that the inputs drawn as records, which no invisible edge
    may touch, follow their ops' order). Empty unless folded."""
    if not wrap.folds:
        return []
    fed = {e["dst"] for e in scene.edges if e["attrs"].get("style") != "invis"}
    inputs = {
        element_id
        for element_id, element in scene.elements.items()
        if element["kind"] in ("variable", "input") and element_id not in fed
    }
    readers = {e["dst"] for e in scene.edges if e["src"] in inputs}
    groups: dict[tuple, list[str]] = {}
    for element_id, element in scene.elements.items():
        if element_id in inputs or (element["kind"] == "function" and element_id in readers):
            key = (element_id in inputs, wrap.order[element_id], wrap.rank[element_id])
            groups.setdefault((*key, element["home"]), []).append(element_id)
    return list(groups.values())


def _write_edges(g: GraphDrawing, scene: Scene, t: dict, wrap: Wrap, rankdir: str) -> None:
    """Every edge; a dense layer (a block with many inputs, an input read by many)
    would be a black band of arrows: thin grey lines keep every edge and let the
    blocks show."""
    fan_in: dict[str, int] = {}
    fan_out: dict[str, int] = {}
    for edge in scene.edges:
        fan_in[edge["dst"]] = fan_in.get(edge["dst"], 0) + 1
        fan_out[edge["src"]] = fan_out.get(edge["src"], 0) + 1
    for edge in scene.edges:
        attrs = edge["attrs"]
        dense = max(fan_in[edge["dst"]], fan_out[edge["src"]]) >= _DENSE
        if dense and attrs.get("color") == t["arrow"]["color"]:
            attrs = {**attrs, "color": t["dense"], "penwidth": "0.7", "arrowsize": "0.5"}
        src, dst, attrs = wrap.edge(edge["src"], edge["dst"], attrs)
        if (
            attrs.get("style") == "invis"
            and wrap.folds
            and (wrap.order.get(src), wrap.rank.get(src))
            == (wrap.order.get(dst), wrap.rank.get(dst))
        ):  # an edge ordering two elements of one rank: inside the row's cluster now
            src, dst = ordered(src, dst, rankdir, True)
        g.edge(src, dst, **attrs)
