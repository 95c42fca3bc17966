"""Run by Debian's /usr/bin/python3 (PyQGIS 3.22), never imported by the suite: adds OGC API collections as QGIS's
Data Source Manager does, with QGIS's default settings, and prints what QGIS made of each as one JSON object.

    python3 ogc_probe.py BASE_URL COLLECTION[,COLLECTION…] [SUBSET_STRING] [QUERY]

QUERY (e.g. ``filter=severity%3E%3D3``) is written into the layer's URL, ``…/ogc?QUERY``, as a planner would type it
into the connection's URL: QGIS 3.22 repeats it on every request it makes.
"""

import json
import os
import sys

from qgis.core import QgsApplication, QgsVectorLayer, QgsWkbTypes

app = QgsApplication([], False)
app.initQgis()
base, collections = sys.argv[1], sys.argv[2].split(",")
subset, query = (sys.argv[3:] + ["", ""])[:2]
found = {}
for collection in collections:
    url = f"{base}/ogc" + (f"?{query}" if query else "")
    layer = QgsVectorLayer(f"url='{url}' typename='{collection}'", collection, "OAPIF")
    report = {"valid": layer.isValid()}
    if layer.isValid():
        report["geometry"] = QgsWkbTypes.displayString(layer.wkbType())
        report["fields"] = [field.name() for field in layer.fields()]
        report["count"] = sum(1 for _ in layer.getFeatures())
        if subset:
            layer.setSubsetString(subset)
            report["subset_valid"] = layer.isValid()
            report["filtered"] = sum(1 for _ in layer.getFeatures())
    found[collection] = report
print(json.dumps(found), flush=True)
os._exit(0)  # QGIS 3.22 headless may crash in exitQgis() after an OAPIF layer: what it found is printed already
