"""What is wrong with a data-asset CSV: the errors `validation.validate_csv` raises, and the
helpers that keep their messages short (a few names, each shortened, never a whole line)."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.dataset import COLUMNS

_SHOWN_NAMES = 3
_SHOWN_CHARS = 24


class SchemaError(ValueError):
    """The file does not match the schema; the message says what to fix."""


class NotACsvError(SchemaError):
    """Not a CSV with a recognizable header at all: binary, not UTF-8, empty, or unrelated text.

    `str()` is the same generic sentence for every such file and quotes nothing from it.
    `reason` is a fixed phrase (also never file content) saying which of these it was, for
    callers that may tell it, e.g. to the person who uploaded the file.
    """

    MESSAGE = (
        "not a diabetes-diagnostics CSV: expected UTF-8, comma-separated text whose first line "
        f"is the header {','.join(COLUMNS)}"
    )

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGE)
        self.reason = reason


class ColumnError(SchemaError):
    """The header is recognized but its columns are wrong (missing, unexpected, duplicated, too many)."""


class RowError(SchemaError):
    """A row after the header is wrong; `row` is its 1-based line number (the header is row 1)."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(message)
        self.row = row


class TooManyRowsError(SchemaError):
    """The file has more than `MAX_ROWS` lines after the header."""


class ValidationAborted(Exception):
    """`should_stop` answered true: the caller no longer wants the answer (its client left)."""


def show(text: str) -> str:
    """`text` quoted for a message, cut to a readable length (the length is then said)."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return f"{text[:_SHOWN_CHARS]!r}... ({len(text)} characters)"


def few(names: Sequence[str], quote: bool = True) -> str:
    """At most `_SHOWN_NAMES` of `names`, each shortened, then how many more there are."""
    shown = ", ".join(show(n) if quote else n for n in names[:_SHOWN_NAMES])
    rest = len(names) - _SHOWN_NAMES
    return f"{shown} and {rest} more" if rest > 0 else shown
