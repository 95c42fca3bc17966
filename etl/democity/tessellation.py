"""Exact partitions: clean a set of regions, cut them into Voronoi cells, group cells into larger units.

Every polygon produced here comes out of one snap-rounded noding of all the
linework (``grid_size``, about 1 cm), so neighbours share their edges vertex
for vertex: a coverage union of children gives their parent exactly, and
sibling overlaps and gaps are zero, not merely small.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

GRID_SIZE = 1e-7
KM_X, KM_Y = 96.2, 110.57  # km per degree at 30.2°N, for distances between seeds
_MAX_SLIVER_ROUNDS = 20


def clean_partition(parts: np.ndarray, frame: shapely.Geometry, grid_size: float = GRID_SIZE) -> np.ndarray:
    """Clip ``parts`` to ``frame`` and make them a partition of it: overlaps go to the earlier part, gaps to a neighbour.

    Parameters
    ----------
    parts : numpy.ndarray of Polygon or MultiPolygon
    frame : shapely.Geometry
        What the parts should tile (the city).
    grid_size : float

    Returns
    -------
    numpy.ndarray
        One geometry per part, pairwise without overlap, their union the frame.

    Examples
    --------
    >>> a, b = shapely.box(0, 0, 0.6, 1), shapely.box(0.5, 0, 1, 0.9)
    >>> out = clean_partition(np.array([a, b]), shapely.box(0, 0, 1, 1))
    >>> [round(float(x), 2) for x in shapely.area(out)]
    [0.6, 0.4]
    """
    frame = shapely.set_precision(frame, grid_size)
    out = shapely.intersection(shapely.set_precision(parts, grid_size), frame, grid_size=grid_size)
    for i in range(1, len(out)):
        out[i] = shapely.difference(out[i], shapely.union_all(out[:i], grid_size=grid_size), grid_size=grid_size)
    gaps = shapely.get_parts(shapely.difference(frame, shapely.union_all(out, grid_size=grid_size), grid_size=grid_size))
    for gap in gaps[shapely.area(gaps) > 0]:
        shared = shapely.length(shapely.intersection(shapely.boundary(out), shapely.boundary(gap), grid_size=grid_size))
        i = int(np.argmax(shared)) if shared.max() > 0 else int(np.argmin(shapely.distance(out, gap)))
        out[i] = shapely.union(out[i], gap, grid_size=grid_size)
    return out


def _label_faces(faces: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """The piece each face lies in, -1 where that is not clear (snapping artefacts)."""
    points = shapely.point_on_surface(faces)
    face, piece = shapely.STRtree(pieces).query(points, predicate="intersects")
    label = np.full(len(faces), -1)
    once = np.bincount(face, minlength=len(faces)) == 1
    label[face[once[face]]] = piece[once[face]]
    return label


def _keep_one_face_per_cell(faces: np.ndarray, label: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Where a cell has several faces, keep the one holding its seed (else the largest) and free the others."""
    counts = np.bincount(label[label >= 0], minlength=len(seeds))
    multi = np.flatnonzero((label >= 0) & (counts[np.maximum(label, 0)] > 1))
    if not len(multi):
        return label
    holds_seed = shapely.intersects(faces[multi], seeds[label[multi]])
    area = shapely.area(faces[multi])
    # Sort so that, per cell, the keeper comes first: seed holders, then by area.
    order = np.lexsort((-area, ~holds_seed, label[multi]))
    cells = label[multi][order]
    first = np.r_[True, cells[1:] != cells[:-1]]
    label = label.copy()
    label[multi[order][~first]] = -1
    return label


def _assign_slivers(faces: np.ndarray, label: np.ndarray, region_of_face: np.ndarray,
                    region_of_cell: np.ndarray, grid_size: float) -> np.ndarray:
    """Give every unlabelled face to the neighbouring cell it shares the longest edge with, same region first."""
    label = label.copy()
    tree = shapely.STRtree(faces)
    for _ in range(_MAX_SLIVER_ROUNDS):
        free = np.flatnonzero(label < 0)
        if not len(free):
            return label
        a, b = tree.query(faces[free], predicate="intersects")
        a = free[a]
        keep = label[b] >= 0
        a, b = a[keep], b[keep]
        shared = shapely.length(shapely.intersection(shapely.boundary(faces[a]), shapely.boundary(faces[b]),
                                                     grid_size=grid_size))
        edge = shared > 0
        if not edge.any():
            break
        a, b, shared = a[edge], b[edge], shared[edge]
        same = region_of_cell[label[b]] == region_of_face[a]
        order = np.lexsort((-shared, ~same, a))
        a, b = a[order], b[order]
        first = np.r_[True, a[1:] != a[:-1]]
        label[a[first]] = label[b[first]]
    free = np.flatnonzero(label < 0)
    if len(free):  # islands: nothing shares an edge with them, so the nearest cell takes them
        held = np.flatnonzero(label >= 0)
        which, nearest = shapely.STRtree(faces[held]).query_nearest(faces[free], all_matches=False)
        label[free[which]] = label[held[nearest]]
    return label


def voronoi_cells(regions: np.ndarray, seeds_x: np.ndarray, seeds_y: np.ndarray, region_of_seed: np.ndarray,
                  grid_size: float = GRID_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Cut each region into the Voronoi cells of its seeds, as one exact coverage of all regions.

    Parameters
    ----------
    regions : numpy.ndarray of Polygon or MultiPolygon
        A partition (see :func:`clean_partition`).
    seeds_x, seeds_y : numpy.ndarray
        Seed coordinates, each inside its region.
    region_of_seed : numpy.ndarray of int
    grid_size : float

    Returns
    -------
    cells : numpy.ndarray
        One polygon per seed that kept an area (a cell's detached slivers are
        merged into the neighbour sharing the longest edge).
    kept : numpy.ndarray of int
        The seed index of each cell.
    """
    seeds = shapely.points(seeds_x, seeds_y)
    pieces = np.empty(len(seeds), dtype=object)
    for r, region in enumerate(regions):
        mine = np.flatnonzero(region_of_seed == r)
        if len(mine) == 1:
            pieces[mine] = region
            continue
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds[mine]), extend_to=region,
                                                            ordered=True))
        pieces[mine] = shapely.intersection(cells, region)
    noded = shapely.union_all(shapely.boundary(pieces), grid_size=grid_size)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    label = _keep_one_face_per_cell(faces, _label_faces(faces, pieces), seeds)
    region_of_face = np.full(len(faces), -1)
    face, region = shapely.STRtree(regions).query(shapely.point_on_surface(faces), predicate="intersects")
    region_of_face[face] = region
    label = _assign_slivers(faces, label, region_of_face, region_of_seed, grid_size)
    order = np.argsort(label, kind="stable")
    kept, starts = np.unique(label[order], return_index=True)
    groups = np.split(order, starts[1:])
    cells = np.array([faces[g[0]] if len(g) == 1 else shapely.coverage_union_all(faces[g]) for g in groups],
                     dtype=object)
    return cells, kept


def adjacency(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of polygons sharing a stretch of edge (not just a point)."""
    i, j = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    line = shapely.relate_pattern(polygons[i], polygons[j], "****1****")
    return i[line], j[line]


def group_around_seeds(x: np.ndarray, y: np.ndarray, edges: tuple[np.ndarray, np.ndarray], seeds: np.ndarray,
                       region: np.ndarray) -> np.ndarray:
    """Assign every node to the nearest seed of its region along the adjacency graph.

    A graph Voronoi: distances are summed along shared edges (centre to
    centre), so every group is connected; a node the graph cannot reach in its
    region goes to the nearest seed of the region as the crow flies.

    Parameters
    ----------
    x, y : numpy.ndarray
        Node positions in degrees.
    edges : tuple of numpy.ndarray
        From :func:`adjacency`.
    seeds : numpy.ndarray of int
        Node indices that start a group.
    region : numpy.ndarray of int
        Nodes only join seeds of their own region.

    Returns
    -------
    numpy.ndarray of int
        The seed node index of each node's group.

    Examples
    --------
    >>> x, y = np.arange(5.0) / 100, np.zeros(5)
    >>> group_around_seeds(x, y, (np.arange(4), np.arange(1, 5)), np.array([0, 3]), np.zeros(5, int)).tolist()
    [0, 0, 3, 3, 3]
    """
    i, j = edges
    same = region[i] == region[j]
    i, j = i[same], j[same]
    weight = np.hypot((x[i] - x[j]) * KM_X, (y[i] - y[j]) * KM_Y) + 1e-9
    graph = csr_matrix((weight, (i, j)), shape=(len(x), len(x)))
    dist, _, source = dijkstra(graph, directed=False, indices=seeds, min_only=True, return_predecessors=True)
    group = source.astype(np.int64)
    lost = ~np.isfinite(dist)
    for n in np.flatnonzero(lost):
        own = seeds[region[seeds] == region[n]]
        group[n] = own[np.argmin(np.hypot((x[own] - x[n]) * KM_X, (y[own] - y[n]) * KM_Y))]
    return group
