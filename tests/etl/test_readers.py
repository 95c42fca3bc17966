import json
import zipfile
from datetime import datetime

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from openpyxl import Workbook

from etl import readers
from etl.readers import Table, read_csv, read_table, require_file
from etl.vectors import read_features
from etl.timestamps import parse_timestamps
from geodata.errors import BatchRefused, InputError

HEADER = "经度,纬度,事件编号,事件类型,上报时间"
ROWS = ["120.153576,30.287459,HZ-0001,矛盾纠纷,2024-05-01 08:30:00",
        "120.161002,30.274118,HZ-0002,消防安全,2024/5/2 9:05"]
CGCS2000_GK_120E = "EPSG:4549"  # CGCS2000 / 3-degree Gauss-Kruger CM 120E, as Hangzhou surveys deliver


def _text_file(path, encoding, lines=(HEADER, *ROWS)):
    path.write_bytes("\n".join(lines).encode(encoding) + b"\n")
    return path


def _grids(names=("文新社区第1网格", "古荡街道第2网格")):
    squares = [shapely.box(500000 + 100 * i, 3350000, 500100 + 100 * i, 3350100) for i in range(len(names))]
    return gpd.GeoDataFrame({"编码": [f"G{i + 1:03d}" for i in range(len(names))], "名称": list(names)},
                            geometry=squares, crs=CGCS2000_GK_120E)


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for member in members:
            archive.write(member, member.name)
    return path


# Delimited text


def test_gbk_csv_with_chinese_headers_is_detected_and_read_intact(tmp_path):
    path = _text_file(tmp_path / "事件.csv", "gbk")
    table = read_table(path)
    assert table.encoding == "gb18030" and table.row_label == "line"
    assert list(table.frame.columns) == ["经度", "纬度", "事件编号", "事件类型", "上报时间"]
    assert table.frame["事件类型"].tolist() == ["矛盾纠纷", "消防安全"]
    assert table.frame.loc[1, "上报时间"] == "2024/5/2 9:05"
    assert table.frame.loc[0, "经度"] == "120.153576"
    assert table.row_numbers.tolist() == [2, 3]


def test_gbk_named_by_the_operator_is_used_as_given(tmp_path):
    table = read_table(_text_file(tmp_path / "事件.csv", "gbk"), "gbk")
    assert table.encoding == "gbk" and table.frame["事件编号"].tolist() == ["HZ-0001", "HZ-0002"]


@pytest.mark.parametrize(("written", "detected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")])
def test_utf8_with_or_without_bom_is_detected(tmp_path, written, detected):
    table = read_csv(_text_file(tmp_path / "events.csv", written))
    assert table.encoding == detected
    assert table.frame.columns[0] == "经度"
    assert table.frame["事件类型"].tolist() == ["矛盾纠纷", "消防安全"]


def test_utf8_named_on_a_file_with_bom_keeps_clean_headers(tmp_path):
    table = read_table(_text_file(tmp_path / "events.csv", "utf-8-sig"), "utf-8")
    assert table.encoding == "utf-8" and table.frame.columns[0] == "经度"


def test_semicolon_tsv_and_single_column_files_find_their_delimiter(tmp_path):
    semicolon = read_table(_text_file(tmp_path / "a.txt", "utf-8", ["id;name", "1;文新"]))
    tab = read_table(_text_file(tmp_path / "b.tsv", "utf-8", ["id\tname", "1\t文新"]))
    single = read_table(_text_file(tmp_path / "c.csv", "utf-8", ["id", "7"]))
    assert semicolon.frame.to_dict("records") == tab.frame.to_dict("records") == [{"id": "1", "name": "文新"}]
    assert single.frame["id"].tolist() == ["7"]


def test_named_wrong_encoding_is_refused_with_byte_and_line(tmp_path):
    path = _text_file(tmp_path / "事件.csv", "gbk")
    first_bad = path.read_bytes().index("经".encode("gbk"))
    with pytest.raises(BatchRefused) as refused:
        read_table(path, "utf-8-sig")
    assert str(refused.value) == (f"{path}: not readable as utf-8-sig: byte {first_bad} (0xbe) on line 1 is not "
                                  "utf-8-sig; name the right encoding with --encoding, or use --encoding auto")


def test_bad_byte_is_placed_exactly_whatever_the_read_chunk(tmp_path, monkeypatch):
    path = tmp_path / "events.csv"
    path.write_bytes(("id,名称\n" + "".join(f"{i},文新社区{i}\n" for i in range(50))).encode("gbk") + b"51,\xff\n")
    first_bad = len(path.read_bytes()) - 2
    for chunk in (1, 2, 3, 7, 1 << 20):
        monkeypatch.setattr(readers, "_CHUNK_BYTES", chunk)
        with pytest.raises(BatchRefused, match=rf": byte {first_bad} \(0xff\) on line 52 is not gb18030;"):
            read_table(path, "gb18030")


def test_excel_unicode_text_export_is_utf16_with_tabs(tmp_path):
    path = tmp_path / "导出.txt"
    path.write_bytes("事件编号\t事件类型\r\nHZ-0001\t矛盾纠纷\r\n".encode("utf-16"))
    table = read_table(path)
    assert table.encoding == "utf-16" and table.frame.to_dict("records") == [{"事件编号": "HZ-0001", "事件类型": "矛盾纠纷"}]


def test_text_that_is_neither_utf8_nor_gbk_is_refused_suggesting_encoding(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(b"id,name\n1,ok\n2,\xff\xfe\xfd\n")
    with pytest.raises(BatchRefused) as refused:
        read_table(path)
    assert str(refused.value) == (f"{path}: neither UTF-8 nor GBK/GB18030 text (byte 15 (0xff) on line 3 is not "
                                  "utf-8); name its encoding with --encoding")


def test_unknown_encoding_name_is_a_usage_error(tmp_path):
    with pytest.raises(InputError, match="unknown encoding 'gbkk'; use auto, utf-8, gbk or gb18030"):
        read_table(_text_file(tmp_path / "events.csv", "utf-8"), "gbkk")


def test_empty_csv_and_a_workbook_named_csv_are_refused(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(BatchRefused, match="the file is empty"):
        read_table(empty)
    book = Workbook()
    book.save(tmp_path / "real.xlsx")
    (tmp_path / "real.xlsx").rename(tmp_path / "renamed.csv")
    with pytest.raises(BatchRefused, match=r"is a zip archive \(an Excel workbook\?\), not text"):
        read_table(tmp_path / "renamed.csv")


# Workbooks


@pytest.fixture
def workbook(tmp_path):
    book = Workbook()
    notes = book.active
    notes.title = "说明"
    notes.append(["本表由区指挥中心导出"])
    events = book.create_sheet("事件")
    events.append(["事件编号", "上报时间", "经度", "纬度", "面积", "核实"])
    events.append([1001, datetime(2024, 5, 1, 8, 30), 120.153576, 30.287459, 2.5, True])
    events.append([])  # a blank row in the middle: later rows keep the sheet's numbering
    events.append([1002, datetime(2024, 5, 2, 17, 5, 59, 999_999), 120.161002, 30.274118, 3.0, None])
    path = tmp_path / "事件.xlsx"
    book.save(path)
    return path


@pytest.mark.parametrize("sheet", ["事件", 1, "1"])
def test_xlsx_sheet_by_name_or_index_reads_cells_as_displayed(workbook, sheet):
    table = read_table(workbook, sheet=sheet)
    assert (table.layer, table.row_label, table.encoding) == ("事件", "row", "utf-8")
    assert table.row_numbers.tolist() == [2, 4]
    assert table.frame.to_dict("records") == [
        {"事件编号": "1001", "上报时间": "2024-05-01 08:30:00", "经度": "120.153576", "纬度": "30.287459",
         "面积": "2.5", "核实": "TRUE"},
        {"事件编号": "1002", "上报时间": "2024-05-02 17:06:00", "经度": "120.161002", "纬度": "30.274118",
         "面积": "3", "核实": ""},
    ]
    parsed, reason = parse_timestamps(table.frame["上报时间"], now=pd.Timestamp("2025-01-01", tz="UTC"))
    assert parsed.tolist() == [pd.Timestamp("2024-05-01 00:30", tz="UTC"), pd.Timestamp("2024-05-02 09:06", tz="UTC")]
    assert reason.isna().all()


def test_xlsx_first_sheet_is_the_default(workbook):
    table = read_table(workbook)
    assert table.layer == "说明" and list(table.frame.columns) == ["本表由区指挥中心导出"] and len(table.frame) == 0


def test_unknown_sheet_lists_the_sheets(workbook):
    for sheet in ("事件表", 2):
        with pytest.raises(InputError) as error:
            read_table(workbook, sheet=sheet)
        assert str(error.value) == f"{workbook}: no sheet {sheet!r}; the workbook's sheets are 0: '说明', 1: '事件'"


def test_empty_sheet_and_broken_workbook_are_refused(tmp_path):
    book = Workbook()
    book.active.title = "空表"
    book.save(tmp_path / "empty.xlsx")
    with pytest.raises(BatchRefused, match="sheet '空表' is empty"):
        read_table(tmp_path / "empty.xlsx")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip at all")
    with pytest.raises(BatchRefused, match=r"broken.xlsx: not a readable Excel workbook"):
        read_table(tmp_path / "broken.xlsx")


# Feature files


@pytest.fixture
def geopackage(tmp_path):
    path = tmp_path / "网格.gpkg"
    grids = _grids()
    grids["人口"] = pd.array([1001, None], dtype="Int64")
    grids.to_file(path, layer="grid", driver="GPKG")
    _grids(["文新社区"]).to_file(path, layer="community", driver="GPKG")
    return path


def test_geopackage_with_two_layers_needs_a_layer(geopackage):
    with pytest.raises(InputError) as error:
        read_table(geopackage)
    assert str(error.value) == f"{geopackage}: holds 2 layers ('grid', 'community'); name the one to read with --layer"
    with pytest.raises(InputError, match="no layer 'grids'; it holds"):
        read_features(geopackage, layer="grids")


def test_geopackage_layer_keeps_its_crs_and_text_attributes(geopackage):
    table = read_table(geopackage, layer="grid")
    frame = table.frame
    assert isinstance(frame, gpd.GeoDataFrame) and frame.crs.to_epsg() == 4549
    assert (table.layer, table.row_label, table.row_numbers.tolist()) == ("grid", "feature", [1, 2])
    assert frame["名称"].tolist() == ["文新社区第1网格", "古荡街道第2网格"]
    assert frame["人口"].tolist() == ["1001", ""]  # a nullable integer, not "1001.0"
    assert frame.geometry.iloc[0].bounds == (500000.0, 3350000.0, 500100.0, 3350100.0)
    assert len(read_features(geopackage, layer="community").frame) == 1


def test_zipped_shapefile_with_gbk_cpg_reads_chinese_attributes(tmp_path):
    _grids().to_file(tmp_path / "网格.shp", encoding="GBK")
    assert (tmp_path / "网格.cpg").read_text() == "GBK"
    assert "文新社区第1网格".encode("gbk") in (tmp_path / "网格.dbf").read_bytes()
    path = _zip(tmp_path / "网格.zip", sorted(tmp_path.glob("网格.*")))
    table = read_features(path)
    assert (table.encoding, table.layer, table.row_numbers.tolist()) == ("gbk", "网格", [1, 2])
    assert table.frame[["编码", "名称"]].to_dict("records") == [
        {"编码": "G001", "名称": "文新社区第1网格"}, {"编码": "G002", "名称": "古荡街道第2网格"}]
    assert table.frame.crs.to_epsg() == 4549


def test_cpg_counts_even_where_shape_encoding_is_forced(tmp_path, monkeypatch):
    _grids().to_file(tmp_path / "grid.shp", encoding="GBK")
    monkeypatch.setenv("SHAPE_ENCODING", "")  # what many Chinese GIS guides tell people to set
    table = read_features(tmp_path / "grid.shp")
    assert table.encoding == "gbk" and table.frame["名称"].tolist() == ["文新社区第1网格", "古荡街道第2网格"]


def test_zip_with_several_shapefiles_needs_the_shapefile_name(tmp_path):
    _grids().to_file(tmp_path / "grid.shp", encoding="UTF-8")
    _grids(["文新社区"]).to_file(tmp_path / "community.shp", encoding="UTF-8")
    path = _zip(tmp_path / "areas.zip", sorted(p for p in tmp_path.iterdir() if p.suffix != ".zip"))
    with pytest.raises(InputError) as error:
        read_table(path)
    assert str(error.value) == f"{path}: holds 2 shapefiles ('community', 'grid'); name the one to read with --layer"
    table = read_table(path, layer="community")
    assert table.frame["名称"].tolist() == ["文新社区"] and table.layer == "community"


def test_plain_shapefile_is_read_in_its_own_crs(tmp_path):
    _grids().to_file(tmp_path / "grid.shp", encoding="UTF-8")
    table = read_table(tmp_path / "grid.shp")
    assert table.frame.crs.to_epsg() == 4549 and table.encoding == "utf-8"
    assert table.frame["编码"].tolist() == ["G001", "G002"] and table.row_numbers.tolist() == [1, 2]
    assert list(table.frame.columns) == ["编码", "名称", "geometry"]


def test_gbk_dbf_without_cpg_honours_the_named_encoding_and_is_detected(tmp_path):
    _grids().to_file(tmp_path / "grid.shp", encoding="GBK")
    (tmp_path / "grid.cpg").unlink()
    named = read_features(tmp_path / "grid.shp", encoding="gbk")
    assert named.encoding == "gbk" and named.frame["名称"].tolist() == ["文新社区第1网格", "古荡街道第2网格"]
    detected = read_features(tmp_path / "grid.shp")
    assert detected.encoding == "gb18030" and detected.frame["名称"].tolist() == named.frame["名称"].tolist()
    with pytest.raises(BatchRefused, match=r"its text is not utf-8 \(byte 0x[0-9a-f]{2} is not utf-8\)"):
        read_features(tmp_path / "grid.shp", encoding="utf-8")


def test_shapefile_without_its_dbf_is_refused(tmp_path):
    _grids().to_file(tmp_path / "grid.shp")
    (tmp_path / "grid.dbf").unlink()
    with pytest.raises(BatchRefused, match=r"the shapefile 'grid' has no \.dbf; a shapefile comes as \.shp, \.shx and \.dbf"):
        read_table(tmp_path / "grid.shp")


def test_geojson_is_read_positionally_as_before_and_gbk_geojson_is_detected(tmp_path):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "C1", "name": "文新社区", "n": 3},
         "geometry": {"type": "Point", "coordinates": [120.15, 30.28]}}]}
    utf8 = tmp_path / "c.geojson"
    utf8.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    table = read_features(utf8)
    assert (table.encoding, table.frame.crs.to_epsg(), table.frame["n"].tolist()) == ("utf-8", 4326, ["3"])
    gbk = tmp_path / "gbk.geojson"
    gbk.write_bytes(json.dumps(doc, ensure_ascii=False).encode("gbk"))
    table = read_table(gbk, "auto")
    assert table.encoding == "gb18030" and table.frame["name"].tolist() == ["文新社区"]


def test_broken_geojson_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [ {"type": ', encoding="utf-8")
    with pytest.raises(BatchRefused) as refused:
        read_features(path)
    assert str(refused.value).startswith(f"{path}: not a readable vector file: ") and "\n" not in str(refused.value)


# Whatever the format


def test_unsupported_suffix_lists_the_supported_ones(tmp_path):
    path = tmp_path / "events.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError) as error:
        read_table(path)
    assert str(error.value) == (f"{path}: unsupported file type '.xls'; expected one of .csv, .geojson, .gpkg, .json, "
                                ".shp, .tsv, .txt, .xlsm, .xlsx, .zip; save .xls workbooks as .xlsx")


def test_missing_file_is_a_usage_error(tmp_path):
    for read in (read_table, read_features, read_csv, require_file):
        with pytest.raises(InputError, match="no such file"):
            read(tmp_path / "nope.gpkg")


def test_table_stays_a_frozen_dataclass_built_positionally():
    table = Table(pd.DataFrame({"a": ["1"]}), pd.Series([2]), "line", "utf-8")
    assert table.layer is None
    with pytest.raises(AttributeError):
        table.encoding = "gbk"
