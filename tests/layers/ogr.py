"""What GDAL's own ``ogrinfo`` (Debian's gdal-bin, not the GDAL inside pyogrio) says about a file."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field


@dataclass
class OgrLayer:
    name: str
    count: int
    geometry: str
    epsg: int | None
    fields: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


def ogrinfo(path: str) -> dict[str, OgrLayer]:
    """Every layer of ``path`` (``/vsizip/`` paths too) by name, from ``ogrinfo -ro -so -al``."""
    result = subprocess.run(["ogrinfo", "-ro", "-so", "-al", path], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    layers = {}
    for block in result.stdout.split("\nLayer name: ")[1:]:
        name, rest = block.split("\n", 1)
        head, _, body = ("\n" + rest).partition("\nGeometry: ")
        epsg = re.findall(r'^    ID\["EPSG",(\d+)\]\]$', body, re.M)
        layers[name] = OgrLayer(
            name=name,
            count=int(re.search(r"^Feature Count: (\d+)$", body, re.M).group(1)),
            geometry=body.split("\n", 1)[0],
            epsg=int(epsg[-1]) if epsg else None,
            fields=dict(re.findall(r"^(\w+): (\S+) \(\d", body, re.M)),
            metadata=dict(re.findall(r"^  (\w+)=(.*)$", head, re.M)),
        )
    return layers
