"""Posts of incidents from a feed: parsed by their media type, validated by the loader's own rules, queued durably.

``submit`` is the whole synchronous half of ``POST /api/v1/incidents`` (and of any other way in that can hand it
a ``Table``, such as a later Open311 route): validation through ``etl.incidents.validate_incidents`` (coordinates
and CRS, timestamps, categories and their aliases, severities, statuses, extent, swapped lat/lon, PII into
``pii``), duplicate ids rejected as ``shiyu load`` rejects them, the feed's source and scope enforced, the reject
ratio applied, and then the post and its rows committed to the queue (``geodata.feeds.queue_post``) before any
2xx. The intake worker (``etl/intake_worker.py``) applies it; ``submit`` waits a bounded time for that to answer
with the counts. docs/intake.md.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pandas as pd

from etl.incidents import validate_incidents
from etl.load import EXTENT_MARGIN_DEG, EXTENT_NAME
from etl.readers import Table, _cell_text, read_csv
from etl.rejects import duplicate_reason
from geodata import feeds
from geodata.errors import BatchRefused, Forbidden, InputError
from geodata.feeds import Feed
from geodata.settings import settings
from geodata.text import one_line
from geodata.version import areas_version

JSON, NDJSON, CSV = "application/json", "application/x-ndjson", "text/csv"
MEDIA_TYPES = {JSON: JSON, NDJSON: NDJSON, "application/ndjson": NDJSON, "application/jsonl": NDJSON, CSV: CSV}
CRS_NAMES = ("wgs84", "gcj02", "bd09", "cgcs2000")
POLL_S = (0.01, 0.02, 0.03, 0.05)  # the waits between looks at a post's outcome without notices, the last repeated
NOTICED_POLL_S = 0.5  # the longest wait between looks while notices are heard (one lost costs this much)


class Refused(BatchRefused):
    """A post over the reject ratio, refused whole (nothing queued): an HTTP 422 carrying ``answer``."""

    def __init__(self, message: str, answer: dict):
        super().__init__(message)
        self.answer = answer


@dataclass(frozen=True)
class Outcome:
    """What a post is answered: 200 (applied, with counts) or 202 (queued), and the JSON body."""

    status: int
    body: dict


def max_body_bytes() -> int:
    """The largest body a post may have (``SHIYU_INTAKE_MAX_KB``), the one declaration of it."""
    return int(settings().intake_max_kb * 1024)


def media_type(content_type: str | None) -> str:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in MEDIA_TYPES:
        raise InputError(f"Content-Type {kind or '(none)'!r} is not taken; send application/json (an array of rows), "
                         "application/x-ndjson (a row a line) or text/csv")
    return MEDIA_TYPES[kind]


def _frame(rows: list, numbers: list[int], what: str, label: str) -> Table:
    columns: dict[str, None] = {}
    for row, number in zip(rows, numbers):
        if not isinstance(row, dict):
            raise InputError(f"{what}: {label} {number} is not a JSON object of a row's fields")
        columns.update(dict.fromkeys(map(str, row)))
    text = [{k: orjson.dumps(v).decode() if isinstance(v, (dict, list)) else _cell_text(v) for k, v in row.items()}
            for row in rows]
    frame = pd.DataFrame(text, columns=list(columns), dtype=object).fillna("")
    return Table(frame, pd.Series(numbers, index=frame.index), label, "utf-8")


def table_of_rows(rows: list[dict]) -> Table:
    """Rows already read (e.g. from an Open311 form, ``etl/open311.py``) as a post's table, numbered from 1."""
    return _frame(rows, list(range(1, len(rows) + 1)), "the rows", "row")


def _json_rows(body: bytes) -> Table:
    try:
        rows = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not JSON: {one_line(str(exc), 120)}") from exc
    if not isinstance(rows, list):
        raise InputError("the body is JSON but not an array of rows; send [{\"id\": …, …}, …]")
    return _frame(rows, list(range(1, len(rows) + 1)), "the JSON array", "row")


def _ndjson_rows(body: bytes) -> Table:
    rows, numbers = [], []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InputError(f"line {number} is not JSON: {one_line(str(exc), 120)}") from exc
        numbers.append(number)
    return _frame(rows, numbers, "the NDJSON body", "line")


def _csv_rows(body: bytes) -> Table:
    """Through the loader's own CSV reader (encodings, delimiters, bounded rows), from a file of the body."""
    with tempfile.TemporaryDirectory(prefix="shiyu-post-") as folder:
        path = Path(folder) / "post.csv"
        path.write_bytes(body)
        try:
            return read_csv(path)
        except BatchRefused as exc:  # a body that cannot be read: the post's mistake, said without the file name
            raise InputError(str(exc).replace(str(path), "the CSV body")) from exc


def table_of_body(body: bytes, content_type: str | None) -> Table:
    """The rows of a post's body, as text, numbered as the client counts them (``row`` of a JSON array, ``line``
    of NDJSON and CSV, the header being line 1)."""
    kind = media_type(content_type)
    if b"\x00" in body:
        raise InputError("the body holds a NUL byte, which no value here may hold")
    return {JSON: _json_rows, NDJSON: _ndjson_rows, CSV: _csv_rows}[kind](body)


_extent: tuple[int | None, tuple | None] = (None, None)
_extent_lock = threading.Lock()


def city_extent() -> tuple[float, float, float, float] | None:
    """The loaded areas' extent with the loader's margin, read again only once a batch of areas has committed."""
    global _extent
    version = areas_version()
    with _extent_lock:
        known, extent = _extent
        if known != version:
            extent = feeds.area_extent(EXTENT_MARGIN_DEG)
            _extent = (version, extent)
        return extent


def _duplicates(records: pd.DataFrame, label: str) -> tuple[pd.DataFrame, list[dict]]:
    """The records without repeated ids (the first stays, as in ``shiyu load``) and a reject for each repeat."""
    repeated = records["external_id"].duplicated(keep="first")
    if not repeated.any():
        return records, []
    first = records.groupby("external_id")["row_no"].transform("min")
    rejects = [{"row": int(r), "reason": duplicate_reason("id", [k], label, int(f))}
               for r, k, f in zip(records["row_no"][repeated], records["external_id"][repeated], first[repeated])]
    return records[~repeated].reset_index(drop=True), rejects


def _own_source(feed: Feed, table: Table) -> Table:
    """The table without its ``source`` column, once every value of it is the feed's own (else Forbidden)."""
    if "source" not in table.frame.columns:
        return table
    other = table.frame["source"][(table.frame["source"] != "") & (table.frame["source"] != feed.name)]
    if len(other):
        number = table.row_numbers[other.index[0]]
        raise Forbidden(f"{table.row_label} {number} names source {other.iloc[0]!r}; feed {feed.name!r} "
                        f"writes its own source only (leave 'source' out)")
    return replace(table, frame=table.frame.drop(columns="source"))


def _answer(post_id: int | None, read: int, rejects: list[dict], **counts) -> dict:
    return {"read": read, "loaded": counts.get("loaded", 0), "updated": counts.get("updated", 0),
            "unchanged": counts.get("unchanged", 0), "rejected": len(rejects), "rejects": rejects, "post_id": post_id}


def answer_of_post(post: dict) -> dict:
    """A queued or applied post as the API answers it (``GET /api/v1/posts/{id}``)."""
    body = _answer(post["id"], post["read_count"], post["rejects"], loaded=post["loaded_count"] or 0,
                   updated=post["updated_count"] or 0, unchanged=post["unchanged_count"] or 0)
    body["status"] = post["status"]
    return body


def wait_for(post_id: int, feed: str, seconds: float) -> dict | None:
    """The post once applied, or None after ``seconds``: looked at again at each micro-batch's commit (the worker's
    notice, ``feeds.applied_notices``), at least every ``NOTICED_POLL_S``; polled by ``POLL_S`` while this process
    hears no notices."""
    notices = feeds.applied_notices
    notices.watch()
    deadline = time.monotonic() + seconds
    for step in range(1 << 30):
        seen = notices.generation  # before the look: a commit after it wakes the wait below
        post = feeds.post_outcome(post_id, feed)
        if post is not None and post["status"] == "applied":
            return post
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if notices.listening:
            notices.wait(seen, min(left, NOTICED_POLL_S))
        else:
            time.sleep(min(left, POLL_S[min(step, len(POLL_S) - 1)]))
    return None


def submit(feed: Feed, table: Table, *, crs: str | None = None, now: pd.Timestamp | None = None,
           wait_s: float | None = None) -> Outcome:
    """Validate a post's rows, queue them durably and answer: 200 once applied, else 202 (queued).

    Raises InputError (400) for a post that holds no rows or lacks a required field, Forbidden (403) for rows the
    feed may not write, Refused (422) over the reject ratio (counted, nothing queued)."""
    if crs is not None and crs.lower() not in CRS_NAMES:
        raise InputError(f"crs {crs!r} is not one of {', '.join(CRS_NAMES)}")
    if not len(table.frame):
        raise InputError("the post holds no rows")
    table = _own_source(feed, table)
    try:
        batch = validate_incidents(table, crs=crs, extent=city_extent(), extent_name=EXTENT_NAME, now=now)
    except BatchRefused as exc:  # a required field missing: the body's shape, not its rows
        raise InputError(str(exc).replace("the file", "the post").split("; name them")[0]) from exc
    label = table.row_label
    rejects = [{"row": int(r[label]), "reason": r["reason"]} for r in batch.rejects[[label, "reason"]].to_dict("records")]
    records, repeats = _duplicates(batch.records, label)
    rejects = sorted(rejects + repeats, key=lambda r: r["row"])
    outside = feeds.outside_scope(feed, records["lon"].to_numpy(), records["lat"].to_numpy())
    if outside:
        raise Forbidden(f"{label} {int(records['row_no'].iloc[outside[0]])} lies outside feed {feed.name!r}'s area "
                        f"({len(outside)} such rows); a feed posts incidents of its own area only; nothing was written")
    read, ratio = batch.read, len(rejects) / batch.read
    limit = settings().intake_max_reject_ratio
    if ratio > limit:
        post_id = feeds.queue_post(feed, read, rejects, None)
        body = {**_answer(post_id, read, rejects, unchanged=read - len(rejects)), "status": "refused"}
        raise Refused(f"{len(rejects)} of {read} rows rejected ({ratio:.0%}, more than {limit:.0%}); nothing was "
                      "written", body)
    post_id = feeds.queue_post(feed, read, rejects, records)
    applied = wait_for(post_id, feed.name, settings().intake_wait_s if wait_s is None else wait_s)
    if applied is None:
        return Outcome(202, {**_answer(post_id, read, rejects), "status": "queued"})
    return Outcome(200, answer_of_post(applied))



def post_of(post_id: int, feed: Feed) -> dict | None:
    """A post of ``feed`` as the API answers it (its counts once applied), or None."""
    post = feeds.post_outcome(post_id, feed.name)
    return None if post is None else answer_of_post(post)
