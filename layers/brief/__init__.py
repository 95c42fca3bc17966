"""The weekly analysis brief (研判报告): a few A4 pages in Chinese about one area and one ISO week.

``make(code, week, scope, …)`` gathers it (``content``), lays it out (``document``) and records it in the audit
log; the ``shiyu brief`` command and the dashboard's ``/brief/<code>.pdf`` route both call it, so the two make the
same file. docs/brief.md says what each section holds and where its numbers come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geodata.audit import record
from geodata.scope import Scope
from layers.brief.content import Brief, gather
from layers.brief.document import pdf
from layers.limits import heavy_slot
from layers.brief.weeks import Week, last_complete_week, parse_week, week_of

__all__ = ["Brief", "BriefFile", "Week", "gather", "last_complete_week", "make", "parse_week", "week_of"]


@dataclass(frozen=True)
class BriefFile:
    """A made brief: its file name, its bytes, and the audit row that records it."""

    name: str
    data: bytes
    audit_id: int


def make(code: str, week: Week, scope: Scope, user_name: str | None, remote_addr: str | None, via: str,
         now: datetime | None = None) -> BriefFile:
    """The brief of area ``code`` for ``week`` as PDF, made in ``scope`` and audited as ``user_name`` (``via``:
    cli or web)."""
    with heavy_slot():  # a brief is heavy work (three layers, two maps, a PDF): one of the process's heavy slots
        brief = gather(code, week, scope, now)
        data = pdf(brief)
    name = f"brief-{brief.area['code']}-{week.label}.pdf"
    audit_id = record("brief", user_name, {"via": via, "area": brief.area["code"], "week": week.label,
                                           "file": name, "bytes": len(data)}, remote_addr)
    return BriefFile(name, data, audit_id)
