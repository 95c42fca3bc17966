"""``shiyu export`` run as a user runs it, on the layer tests' city."""

import json
from datetime import timedelta

from geodata.scope import Scope
from layers.base import Filters, day_window
from layers.registry import build
from tests.helpers import shiyu
from tests.layers.ogr import ogrinfo


def test_export_writes_the_filtered_layers_into_one_geopackage_and_audits_it(city, conn, tmp_path):
    _, _, now = city
    first, last = (now - timedelta(days=10)).date(), now.date()
    out = tmp_path / "c1.gpkg"

    result = shiyu("export", "hotspots,hexes", "areas", "--area", "C1", "--tier", "street", "--res", "9",
                   "--since", first.isoformat(), "--until", last.isoformat(), "--category", "dispute",
                   "--category", "fire_safety", "--crs", "EPSG:4549", "-o", str(out))

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    since, until = day_window(first, last)
    filters = Filters(res=9, tier="street", area_code="C1", since=since, until=until,
                      categories=("dispute", "fire_safety"))
    counts = {layer: len(build(layer, Filters(**{**filters.__dict__, "zoom": 14 if layer == "hexes" else 18}),
                               Scope.everything()).features) for layer in ("hotspots", "hexes", "areas")}
    assert result.stdout.strip() == (f"wrote {out} (GeoPackage, EPSG:4549, {out.stat().st_size:,} bytes): "
                                     + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + " features")
    layers = ogrinfo(str(out))
    assert {name: layers[name].count for name in counts} == counts
    assert layers["areas"].count == 2 and all(layers[name].epsg == 4549 for name in counts)
    meta = json.loads(layers["hexes"].metadata["shiyu_filters"])
    assert (meta["area"], meta["res"], meta["categories"]) == ("C1", 9, ["dispute", "fire_safety"])
    assert meta["until_exclusive"].startswith((last + timedelta(days=1)).isoformat())
    audit = conn.execute("SELECT detail FROM shiyu.audit_log WHERE action = 'export' ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert audit["via"] == "cli" and audit["layers"] == counts and audit["crs"] == "EPSG:4549"


def test_a_shapefile_export_is_a_zip_and_other_names_are_a_usage_error(city, tmp_path):
    zipped = shiyu("export", "hotspots", "--format", "shp", "-o", str(tmp_path / "hot.zip"))
    assert zipped.returncode == 0, zipped.stderr
    assert ogrinfo(f"/vsizip/{tmp_path / 'hot.zip'}")["hotspots"].count > 0

    wrong = shiyu("export", "hotspots", "--format", "shp", "-o", str(tmp_path / "hot.shp"))
    assert wrong.returncode == 2
    assert wrong.stderr == "shiyu: a Shapefile export comes as a .zip file with its sidecars; name the output ….zip\n"
    assert not (tmp_path / "hot.shp").exists()


def test_mistakes_are_one_line_usage_errors_and_write_nothing(city, conn, tmp_path):
    before = conn.execute("SELECT count(*) FROM shiyu.audit_log").fetchone()[0]
    out = str(tmp_path / "x.gpkg")
    for args, message in (
        (("heat", "-o", out), "shiyu: unknown layer heat; layers: areas, hexes, hotspots, emerging, coverage, facilities, warnings"),
        (("hexes", "--area", "Z9", "-o", out), "shiyu: there is no area 'Z9' in your scope"),
        (("hexes", "--since", "2026-13-01", "-o", out), "shiyu: --since '2026-13-01' is not a day like 2026-10-01"),
        (("hexes", "--until", "9999-12-31", "-o", out), "shiyu: --until 9999-12-31 is outside the days Shiyu holds"),
        (("hexes", "--since", "0001-01-01", "-o", out), "shiyu: --since 0001-01-01 is outside the days Shiyu holds"),
        (("hexes", "--category", "noise", "-o", out), "shiyu: unknown category noise; known: "),
        (("hexes", "--crs", "bd09", "-o", out), "shiyu: exports are in WGS-84, CGCS2000, GCJ-02 or an EPSG code"),
        (("hexes", "-o", str(tmp_path / "x.kml")), "shiyu: say which format with --format"),
        (("hexes", "-o", str(tmp_path / "nowhere" / "x.gpkg")), "shiyu: there is no folder"),
    ):
        result = shiyu("export", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert not list(tmp_path.iterdir())
    assert conn.execute("SELECT count(*) FROM shiyu.audit_log").fetchone()[0] == before


def test_an_unreachable_database_is_exit_1_in_one_line(tmp_path):
    result = shiyu("export", "hexes", "-o", str(tmp_path / "x.gpkg"),
                   env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 1
    assert result.stderr.startswith("shiyu: cannot reach the database at 127.0.0.1:1/none") and result.stderr.count("\n") == 1


def test_layers_may_follow_the_options_and_a_stray_option_is_still_a_usage_error(city, tmp_path):
    out = tmp_path / "both.gpkg"
    result = shiyu("export", "areas", "--tier", "district", "hotspots", "-o", str(out))
    assert result.returncode == 0, result.stderr
    layers = ogrinfo(str(out))
    assert set(layers) >= {"areas", "hotspots"} and layers["areas"].count == 2  # the city's two districts
    stray = shiyu("export", "areas", "--tier", "district", "--colour", "red", "hotspots", "-o", str(out))
    assert stray.returncode == 2 and "unrecognized arguments: --colour red hotspots" in stray.stderr


def test_areas_without_a_tier_are_the_finest_tier_one_file_holds_whole(city, conn, tmp_path, monkeypatch):
    grids = conn.execute("SELECT count(*) FROM shiyu.area WHERE tier = 'grid'").fetchone()[0]
    out = tmp_path / "areas.gpkg"
    result = shiyu("export", "areas", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert ogrinfo(str(out))["areas"].count == grids  # the test city's grids fit in one file

    from layers import export, limits
    monkeypatch.setitem(limits.LIMITS, "areas", limits.Limit(limits.AREAS, grids - 1, 2_000))
    tier, why = export.finest_whole_tier(Filters(), Scope.everything())
    communities = conn.execute("SELECT count(*) FROM shiyu.area WHERE tier = 'community'").fetchone()[0]
    assert communities < grids and tier == "community"
    assert why == f"the grid tier holds {grids:,} areas here, more than one file's {grids - 1:,}"
