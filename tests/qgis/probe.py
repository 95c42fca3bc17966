"""What QGIS itself makes of the served app, run by Debian's ``/usr/bin/python3`` (PyQGIS 3.22), never by the venv.

Reads one JSON object on stdin: ``ogc`` (the API's root), ``user`` and ``token`` (stored as a Basic authentication
configuration through QGIS's own ``QgsAuthManager``, as a planner makes one in Settings > Options >
Authentication; without them, no login), ``layers`` (``[{"id": …, "name": the key it is reported under (its id
by default), "subset": expression or null, "query": what the connection's URL adds after ``?``, or null}]``) and ``tiles`` (``[{"name", "url",
"extent": [west, south, east, north] in lon/lat}]``) and ``styles`` (``[{"path", "layer", "key"}]``: GeoPackage
layers opened with the styles they carry). Prints one JSON object: for each layer whether it is
valid, its geometry type, its fields, how many features QGIS fetched (with the geometry types they carried) and
the seconds from adding it to its last feature;
for each tile layer how many pixels of a 512x512 render are not blank; for each styled layer the colour each
feature is drawn in; and QGIS's message log.
"""

import json
import os
import sys
import tempfile
import time

from qgis.core import (Qgis, QgsApplication, QgsAuthMethodConfig, QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                       QgsDataSourceUri, QgsMapRendererParallelJob, QgsMapSettings, QgsProject, QgsRectangle, QgsRenderContext,
                       QgsVectorLayer, QgsVectorTileLayer, QgsWkbTypes)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

LOG = []


def _collect(message, tag, level):
    LOG.append(f"{tag}: {message}")


def basic_config(user, token):
    """A Basic configuration in a fresh authentication database; returns its id (what ``authcfg=`` names)."""
    manager = QgsApplication.authManager()
    manager.setMasterPassword("probe master password", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("shiyu")
    config.setConfig("username", user)
    config.setConfig("password", token)
    if not manager.storeAuthenticationConfig(config):
        raise SystemExit("QGIS did not store the authentication configuration")
    return config.id()


def open_collection(ogc, collection, authcfg, subset, query=None):
    """``query`` (e.g. ``filter=…``) is written into the connection's URL, ``…/ogc?QUERY``, as a planner types it
    into the connection dialog: QGIS 3.22 repeats it on every request it makes."""
    started = time.perf_counter()
    uri = QgsDataSourceUri()
    uri.setParam("url", f"{ogc}?{query}" if query else ogc)
    uri.setParam("typename", collection)
    if authcfg:
        uri.setAuthConfigId(authcfg)
    layer = QgsVectorLayer(uri.uri(False), collection, "OAPIF")
    result = {"valid": layer.isValid()}
    if not layer.isValid():
        return result
    if subset:
        result["subset_set"] = layer.setSubsetString(subset)
    types, count = set(), 0
    for feature in layer.getFeatures():
        count += 1
        if feature.hasGeometry():
            types.add(QgsWkbTypes.displayString(feature.geometry().wkbType()))
    result.update(geometry=QgsWkbTypes.displayString(layer.wkbType()), fields=layer.fields().names(), count=count,
                  feature_geometries=sorted(types), seconds=round(time.perf_counter() - started, 2))
    return result


def render_tiles(spec, authcfg):
    layer = QgsVectorTileLayer(f"type=xyz&url={spec['url']}&zmin=0&zmax={spec.get('zmax', 14)}&authcfg={authcfg}",
                               spec["name"])
    if not layer.isValid():
        return {"valid": False}
    west, south, east, north = spec["extent"]
    to_mercator = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"),
                                         QgsCoordinateReferenceSystem("EPSG:3857"), QgsProject.instance())
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(to_mercator.transformBoundingBox(QgsRectangle(west, south, east, north)))
    settings.setOutputSize(QSize(512, 512))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    if spec.get("image"):
        image.save(spec["image"])
    drawn = sum(1 for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)
                if image.pixel(x, y) >> 24)  # the pixel's alpha: 0 where nothing was drawn
    return {"valid": True, "pixels": drawn, "errors": [e.message for e in job.errors()]}


def styled(path, name, key):
    """A GeoPackage layer as QGIS opens it, with the style the file carries: the renderer's type and, for each
    feature, its ``key`` property and the fill colour QGIS draws it in (None: not drawn)."""
    layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
    renderer = layer.renderer()
    context = QgsRenderContext()
    renderer.startRender(context, layer.fields())
    drawn = []
    for feature in layer.getFeatures():
        context.expressionContext().setFeature(feature)
        symbols = renderer.symbolsForFeature(feature, context)  # a rule renderer has no single symbolForFeature
        drawn.append([feature[key], symbols[0].color().name() if symbols else None])
    renderer.stopRender(context)
    return {"valid": layer.isValid(), "renderer": renderer.type(), "drawn": drawn}


def main():
    spec = json.load(sys.stdin)
    os.environ.setdefault("QGIS_AUTH_DB_DIR_PATH", tempfile.mkdtemp(prefix="qgis-auth-"))
    app = QgsApplication([], False)
    app.initQgis()
    # In 3.22, a failed OAPIF layer's error().summary() crashes: QGIS's message log says why instead.
    QgsApplication.messageLog().messageReceived.connect(_collect)
    authcfg = basic_config(spec["user"], spec["token"]) if spec.get("user") else None
    layers = {entry.get("name", entry["id"]): open_collection(spec["ogc"], entry["id"], authcfg, entry.get("subset"),
                                                              entry.get("query"))
              for entry in spec.get("layers", [])}
    tiles = {entry["name"]: render_tiles(entry, authcfg) for entry in spec.get("tiles", [])}
    styles = {entry["layer"]: styled(entry["path"], entry["layer"], entry["key"]) for entry in spec.get("styles", [])}
    print(json.dumps({"qgis": Qgis.QGIS_VERSION_INT, "layers": layers, "tiles": tiles, "styles": styles,
                      "log": LOG[-200:]},
                     ensure_ascii=False))
    app.exitQgis()


if __name__ == "__main__":
    main()
