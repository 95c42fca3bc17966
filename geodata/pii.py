"""Masking of personal data before it is shown anywhere outside its scope.

Only admins and officers see them unmasked, within their scope (``geodata.users.PII_ROLES``); every
other role, a wall screen and every export see them masked or not at all. A masked value keeps just enough to tell two reports apart on a wall screen
(the surname, the mobile's network prefix and last four digits) and nothing
that identifies the person.

Examples
--------
>>> mask_name("张三丰")
'张**'
>>> mask_phone("13812341234")
'138****1234'
"""

from __future__ import annotations

MOBILE_DIGITS = 11
KEEP_LAST = 4
KEEP_PREFIX = 3  # a mainland mobile's network prefix (138, 159, …) says nothing about the person


def mask_name(name: str | None) -> str:
    """The first character, then one ``*`` for each other character; empty for None or blank."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str:
    """A mainland mobile (11 digits from 1) as ``138****1234``; other numbers keep only their last four digits.

    Separators are dropped; a number of four digits or fewer is masked whole.
    """
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    if not digits:
        return ""
    if len(digits) == MOBILE_DIGITS + 2 and digits.startswith("861"):  # +86 written in front of a mobile
        digits = digits[2:]
    if len(digits) == MOBILE_DIGITS and digits.startswith("1"):
        return digits[:KEEP_PREFIX] + "*" * (MOBILE_DIGITS - KEEP_PREFIX - KEEP_LAST) + digits[-KEEP_LAST:]
    if len(digits) <= KEEP_LAST:
        return "*" * len(digits)
    return "*" * (len(digits) - KEEP_LAST) + digits[-KEEP_LAST:]


def reporter(name: str | None, phone: str | None, show: bool = False) -> dict:
    """``{"reporter": …, "phone": …}`` for display: as stored when ``show`` (a role allowed to see them), else masked."""
    if show:
        return {"reporter": (name or "").strip(), "phone": (phone or "").strip()}
    return {"reporter": mask_name(name), "phone": mask_phone(phone)}
