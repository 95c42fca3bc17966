"""Scope: the subtree of areas a user may see, as an ltree path (None: the whole database)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from geodata.errors import InputError

_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


@dataclass(frozen=True)
class Scope:
    path: str | None = None

    def __post_init__(self) -> None:
        if self.path is not None and not _PATH.match(self.path):
            raise InputError(f"scope '{self.path}' is not an area path like 330100.330106")

    @classmethod
    def everything(cls) -> "Scope":
        return cls(None)
