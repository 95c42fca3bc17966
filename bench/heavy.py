"""The heaviest requests the UI and the APIs allow, for ``python -m bench.load --heavy N``: issue 16's scenario.

Each heavy user is a planner of the whole city (``bench-heavy-<k>``, made once) sending, one after another with
no pause, the explore map of every layer at r10 and at r8 over the whole city (its recorded first draw with the
resolution and the layer swapped), the OGC API's collections at r10, ten thousand features a page, a vector tile
holding the whole city, and exports of every layer of the city at r9 and r8 (the export page's own callback).
Each answer or refusal is timed; the server's memory is sampled from ``/proc`` (every gunicorn worker's RSS
summed). Bounded in users and time; it sends nothing off this machine.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

TIMEOUT_S = 60
LAYERS = ("areas", "hexes", "hotspots", "emerging", "coverage", "facilities", "warnings")
OGC = ("hexes", "hotspots", "coverage", "facilities")
CITY_CENTRE = (120.2, 30.25)  # Hangzhou, the demo city
# The lines of layers.limits and layers.export that refuse a request (a limit, the export size, the heavy slots).
REFUSALS = ("layer would hold", "the export would be", "the export came to", "the server is busy")


def heavy_tokens(users: int) -> list[str]:
    """``users`` planners of the whole city and a fresh API token each (the database is the one ``DATABASE_URL``
    names, set by ``bench.load``)."""
    from geodata import users as accounts
    from geodata.errors import ShiyuError

    tokens = []
    for k in range(users):
        try:
            accounts.add_user(f"bench-heavy-{k}", "planner", "city")
        except ShiyuError:  # made by an earlier run
            pass
        tokens.append(accounts.create_token(f"bench-heavy-{k}", label="bench.load --heavy"))
    return tokens


def _tile(zoom: int, lon: float, lat: float) -> tuple[int, int]:
    n = 2**zoom
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def _with_values(body: dict, values: dict[str, object]) -> dict:
    """A callback body with the inputs and states named ``id.property`` set to new values."""
    body = json.loads(json.dumps(body))
    for group in ("inputs", "state"):
        for item in body.get(group) or []:
            key = f"{item.get('id')}.{item.get('property')}"
            if key in values:
                item["value"] = values[key]
    return body


def _export_body(dependencies: list[dict], layers: list[str], res: int) -> dict:
    """The export page's download callback, as the page sends it, for ``layers`` of the whole city at ``res``."""
    callback = next(d for d in dependencies if "export-file.data" in d["output"])
    outputs = [{"id": part.split(".")[0], "property": part.split(".")[1]}
               for part in callback["output"].strip(".").split("...")]
    values = {"export-download.n_clicks": 1, "export-layers.value": layers, "export-format.value": "gpkg",
              "export-crs.value": "wgs84", "export-tier.value": "grid", "export-lang.data": "en",
              "export-query.data": {"res": res, "area": None, "since": None, "until": None, "categories": [],
                                    "severities": [], "statuses": [], "tier": "grid"}}
    def item(dep):
        return {"id": dep["id"], "property": dep["property"], "value": values.get(f"{dep['id']}.{dep['property']}")}
    return {"output": callback["output"], "outputs": outputs, "inputs": [item(d) for d in callback["inputs"]],
            "state": [item(d) for d in callback["state"]], "changedPropIds": ["export-download.n_clicks"]}


def _dependencies() -> list[dict]:
    """The app's callbacks as ``/_dash-dependencies`` lists them (read here: an API token does not reach the
    pages' layout and callback list, docs/security.md)."""
    import orjson
    from dash._utils import to_json

    from dashboard.app import create_app

    return orjson.loads(to_json(create_app()._callback_list))


def heavy_requests(recorded: list[dict]) -> list[tuple[str, str, str, bytes | None]]:
    """(label, method, path, body) of every heavy request."""
    dependencies = _dependencies()
    first_draw = next(r for r in recorded if "explore-res" in r["body"] and "explore-hexes.data" in r["body"])
    draw = json.loads(first_draw["body"])
    found = []
    for res in (10, 8):
        for layer in LAYERS:
            body = _with_values(draw, {"explore-res.value": res, "explore-layer.value": layer})
            found.append((f"map {layer} r{res}", "POST", first_draw["path"], json.dumps(body).encode()))
    found += [(f"ogc {c} r10", "GET", f"ogc/collections/{c}/items?res=10&limit=10000", None) for c in OGC]
    found.append(("ogc areas-grid", "GET", "ogc/collections/areas-grid/items?limit=10000", None))
    x, y = _tile(8, *CITY_CENTRE)
    found.append(("tile incidents z8", "GET", f"tiles/incidents/8/{x}/{y}.pbf", None))
    for res in (9, 8):
        body = _export_body(dependencies, list(LAYERS), res)
        found.append((f"export all r{res}", "POST", "_dash-update-component", json.dumps(body).encode()))
    return found


def heavy_user(base: str, token: str, requests_: list, stop: float, results: list) -> None:
    """One heavy user sending ``requests_`` in turn, without a pause, until ``stop``: (label, seconds, outcome)."""
    import requests

    session = requests.Session()
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    k = 0
    while time.monotonic() < stop:
        label, method, path, body = requests_[k % len(requests_)]
        k += 1
        started = time.monotonic()
        try:
            response = session.request(method, f"{base}/{path}", data=body, headers=headers, timeout=TIMEOUT_S)
            outcome = _outcome(response)
        except requests.RequestException as error:
            outcome = type(error).__name__
        results.append((label, time.monotonic() - started, outcome))


def _outcome(response) -> str:
    """answered, refused (a 4xx, or a callback whose answer is a refusal notice) or the status."""
    if response.status_code == 429:
        return "429"
    if 400 <= response.status_code < 500:
        return "refused"
    if response.status_code != 200:
        return str(response.status_code)
    text = response.text  # a callback answers a refusal with 200 and the refusal's line on the page
    return "refused" if any(words in text for words in REFUSALS) else "answered"


def workers_rss(master: int) -> int:
    """Bytes resident in the gunicorn workers of ``master`` now (its children's VmRSS summed)."""
    total = 0
    for children in Path(f"/proc/{master}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


class PeakMemory(threading.Thread):
    """The largest ``workers_rss`` seen, sampled every quarter second until ``stop``."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master, self.peak, self.done = master, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.peak = max(self.peak, workers_rss(self.master))


def report(results: list[tuple[str, float, str]], percentile) -> None:
    """Each heavy request's answers and refusals, with the time it took to give them."""
    print("heavy requests (answered or refused within 5 s is the floor):")
    for label in sorted({label for label, _, _ in results}):
        rows = [(seconds, outcome) for name, seconds, outcome in results if name == label]
        times = sorted(seconds for seconds, _ in rows)
        tally = ", ".join(f"{outcome} {sum(1 for _, o in rows if o == outcome)}" for outcome in sorted({o for _, o in rows}))
        print(f"  {label:22s} n={len(rows):4d}  p50 {percentile(times, 0.5) * 1000:7,.0f} ms  max {times[-1] * 1000:7,.0f} ms"
              f"  within 5 s {sum(1 for t in times if t <= 5) / len(times):6.1%}  ({tally})")
