"""The small error hierarchy every package raises and only the edges catch.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
a Dash callback shows the message and logs the cause.
"""

from __future__ import annotations


class ShiyuError(Exception):
    """Base of every error Shiyu raises on purpose; the message is for people."""

    exit_code = 1


class InputError(ShiyuError, ValueError):
    """Input a person can fix: a missing file, a column that is not there, a bad value."""

    exit_code = 2


class NotFound(InputError):
    """A thing asked for by its name or id that is not there (or not in the scope): an HTTP 404."""


class TooLarge(InputError):
    """A request over its cost ceiling, refused before the work: the message says how to narrow it."""


class Forbidden(InputError):
    """A request its credential may not make (a feed posting outside its area, or another source's rows): a 403."""


class BodyTooLarge(InputError):
    """A request body over its declared limit, refused before it is read whole: a 413."""


class Busy(InputError):
    """A large request that found the server busy with others like it: try again, or narrow it."""


class BatchRefused(ShiyuError):
    """A load was refused whole; nothing was written."""

    exit_code = 1


class DatabaseUnavailable(ShiyuError):
    """The database cannot be reached or is not set up."""

    exit_code = 1


class ConnectionLost(DatabaseUnavailable):
    """The database shut down, or the connection to it broke, while a batch was being written: nothing was."""


class ClusterError(ShiyuError):
    """The embedded PostgreSQL cluster could not be created, started or stopped."""

    exit_code = 1


class QueryTooSlow(ShiyuError):
    """A query ran past the statement timeout; the request should be narrowed."""

    exit_code = 1
