import json

from etl.load import load_areas
from tests.conftest import SAMPLES


def test_sample_grids_load_as_valid_multipolygons_with_area(empty_db, conn):
    summary = load_areas(SAMPLES / "sample_grids.geojson", tier="grid")
    assert (summary.read, summary.loaded, summary.rejected) == (300, 300, 0)
    invalid, types, total_km2, owners = conn.execute("""
        SELECT count(*) FILTER (WHERE NOT ST_IsValid(geom)), array_agg(DISTINCT GeometryType(geom)),
               sum(area_m2) / 1e6, count(owner_name) FROM shiyu.area""").fetchone()
    assert invalid == 0 and types == ["MULTIPOLYGON"] and owners == 300
    # The sample tiles its box exactly: the grids' area equals the box's.
    box_km2 = conn.execute("SELECT ST_Area(ST_MakeEnvelope(120.08, 30.22, 120.20, 30.31, 4326)::geography) / 1e6").fetchone()[0]
    assert abs(total_km2 - box_km2) / box_km2 < 1e-4
    again = load_areas(SAMPLES / "sample_grids.geojson", tier="grid")
    assert (again.loaded, again.updated, again.unchanged) == (0, 0, 300)


def test_parent_code_builds_the_ltree_path(empty_db, conn, tmp_path):
    square = {"type": "Polygon", "coordinates": [[[120, 30], [120.1, 30], [120.1, 30.1], [120, 30.1], [120, 30]]]}
    parent = tmp_path / "community.geojson"
    parent.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "C1", "name": "文新社区"}, "geometry": square}]}), encoding="utf-8")
    child = tmp_path / "grid.geojson"
    child.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "C1G1", "name": "第1网格", "parent_code": "C1"}, "geometry": square}]}),
        encoding="utf-8")
    load_areas(parent, tier="community")
    load_areas(child, tier="grid")
    assert conn.execute("SELECT path::text FROM shiyu.area WHERE code = 'C1G1'").fetchone()[0] == "C1.C1G1"


def test_bowtie_polygon_is_rejected_with_the_reason(empty_db, tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[120, 30], [120.1, 30.1], [120.1, 30], [120, 30.1], [120, 30]]]}
    ok = {"type": "Polygon", "coordinates": [[[120, 30], [120.1, 30], [120.1, 30.1], [120, 30.1], [120, 30]]]}
    features = [{"type": "Feature", "properties": {"code": f"G{i}"}, "geometry": ok} for i in range(9)]
    features.append({"type": "Feature", "properties": {"code": "BAD"}, "geometry": bowtie})
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    summary = load_areas(path, tier="grid", max_reject_ratio=0.2)
    assert (summary.loaded, summary.rejected) == (9, 1)
    text = (tmp_path / "grids.rejects.csv").read_text(encoding="utf-8-sig")
    assert "feature,reason" in text.splitlines()[0]
    assert "10,invalid polygon (Self-intersection" in text


def test_grid_loads_apportion_their_h3_cells(sample_db, conn):
    for res in (7, 8, 9, 10):
        sums = conn.execute("SELECT min(a), max(a) FROM (SELECT code, sum(area_share) AS a FROM shiyu.area_cell "
                            "WHERE res = %s GROUP BY code) x", (res,)).fetchone()
        assert abs(sums[0] - 1) < 1e-3 and abs(sums[1] - 1) < 1e-3  # each grid is covered exactly once
    # Cells wholly inside the sample's box are split among grids without loss.
    inside = conn.execute("""
        SELECT count(*), min(s), max(s) FROM (SELECT cell, sum(share) AS s FROM shiyu.area_cell WHERE res = 10
        GROUP BY cell HAVING sum(share) > 0.999 OR count(*) > 1) x""").fetchone()
    box_cells = conn.execute("SELECT ST_Area(ST_MakeEnvelope(120.08, 30.22, 120.20, 30.31, 4326)::geography) / 15047.5").fetchone()[0]
    assert inside[0] > 0.9 * box_cells and inside[2] < 1.0005  # r10 cells average 15,047.5 m²
    # Every incident's r10 cell is among its grid's cells.
    missing = conn.execute("""SELECT count(*) FROM shiyu.incident i WHERE NOT EXISTS (
        SELECT 1 FROM shiyu.area_cell c WHERE c.res = 10 AND c.cell = i.h3_r10 AND c.code = i.grid_code)""").fetchone()[0]
    assert missing == 0
    # An unchanged reload leaves the cells alone.
    before = conn.execute("SELECT count(*) FROM shiyu.area_cell").fetchone()[0]
    again = load_areas(SAMPLES / "sample_grids.geojson", tier="grid")
    assert again.unchanged == 300 and "cells" not in again.seconds
    assert conn.execute("SELECT count(*) FROM shiyu.area_cell").fetchone()[0] == before


def test_a_changed_grid_replaces_only_its_own_cells(sample_db, conn, tmp_path):
    grids = json.loads((SAMPLES / "sample_grids.geojson").read_text(encoding="utf-8"))
    first = grids["features"][0]
    code = first["properties"]["code"]
    others_before = conn.execute("SELECT count(*) FROM shiyu.area_cell WHERE code <> %s", (code,)).fetchone()[0]
    first["geometry"] = {"type": "Polygon", "coordinates": [[[120.081, 30.301], [120.082, 30.301], [120.082, 30.302],
                                                             [120.081, 30.302], [120.081, 30.301]]]}
    path = tmp_path / "changed.geojson"
    path.write_text(json.dumps(grids, ensure_ascii=False), encoding="utf-8")
    summary = load_areas(path, tier="grid")
    assert (summary.updated, summary.unchanged) == (1, 299)
    assert conn.execute("SELECT count(*) FROM shiyu.area_cell WHERE code <> %s", (code,)).fetchone()[0] == others_before
    area_share = conn.execute("SELECT sum(area_share) FROM shiyu.area_cell WHERE code = %s AND res = 10", (code,)).fetchone()[0]
    assert abs(area_share - 1) < 1e-3  # the small square's own cells, nothing left of the old shape
    counted = conn.execute("""SELECT count(*) FROM shiyu.area_cell_count n FULL JOIN (
                                  SELECT code, res, count(*) AS cells FROM shiyu.area_cell GROUP BY 1, 2) c USING (code, res)
                              WHERE n.cells IS DISTINCT FROM c.cells""").fetchone()[0]
    assert counted == 0  # the counts follow the cells


def test_a_province_sized_grid_skips_the_fine_resolutions_with_a_note(empty_db, conn, tmp_path):
    huge = {"type": "Polygon", "coordinates": [[[110, 20], [116, 20], [116, 26], [110, 26], [110, 20]]]}
    path = tmp_path / "huge.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "HUGE"}, "geometry": huge}]}), encoding="utf-8")
    summary = load_areas(path, tier="grid")
    assert summary.loaded == 1
    assert any("too large for H3 r10 cells (e.g. HUGE)" in note for note in summary.notes)
    resolutions = [r for (r,) in conn.execute("SELECT DISTINCT res FROM shiyu.area_cell ORDER BY 1")]
    assert resolutions == [7]  # ~78,000 r7 cells fit; ~540,000 r8 cells would not
