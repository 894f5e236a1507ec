"""One SQLite store, one owner: a lock file beside the database says which process uses it.

SQLite cannot serve replicas (on a network file system it cannot even lock reliably), so a
second ``trainctl serve`` (or ``--local`` run) on the same file is refused with a message
saying what to do instead. The workers of one ``trainctl serve --workers N`` share the file on
purpose: their parent holds the lock and hands them its token through the environment.

The lock is an ``flock`` on ``<db>.owner``: the kernel releases it when the holder exits,
however it exits (SIGKILL included), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
from pathlib import Path

#: Set by ``serve --workers N`` for its workers: the token its lock file holds.
SHARED_TOKEN_ENV = "TRAINCTL_SQLITE_SHARED_TOKEN"  # noqa: S105 (a variable's name)


class StoreInUse(RuntimeError):
    """Another process owns this SQLite store."""


class SqliteClaim:
    """This process's claim on a SQLite store; ``shared`` when it is one worker of several."""

    def __init__(self, db_path: Path, fd: int, token: str, *, shared: bool) -> None:
        self.db_path = db_path
        self.token = token
        self.shared = shared
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".owner")


def claim_sqlite(db_path: Path, shared_token: str | None = None) -> SqliteClaim:
    """Own ``db_path`` for the life of this process, or join the owner whose token is
    ``shared_token``. Raises StoreInUse when another process owns it."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(db_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if shared_token:
            return _join(db_path, fd, shared_token)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreInUse(_in_use_message(db_path, _read(fd))) from None
        token = secrets.token_hex(16)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{socket.gethostname()}:{os.getpid()} {token}\n".encode(), 0)
        return SqliteClaim(db_path, fd, token, shared=False)
    except BaseException:
        os.close(fd)
        raise


def _join(db_path: Path, fd: int, token: str) -> SqliteClaim:
    owner = _read(fd)
    held = True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        held = False  # nobody holds it: the parent that handed us the token is gone
    except BlockingIOError:
        pass
    if not held or owner.split(" ")[-1] != token:
        raise StoreInUse(
            _in_use_message(db_path, owner) if held else f"{db_path}: the serving process is gone"
        )
    os.close(fd)  # the parent's lock is the one that counts; nothing to hold here
    return SqliteClaim(db_path, os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), token, shared=True)


def _read(fd: int) -> str:
    return os.pread(fd, 512, 0).decode(errors="replace").strip()


def _in_use_message(db_path: Path, owner: str) -> str:
    who = owner.split(" ", maxsplit=1)[0] if owner else "another process"
    return (
        f"the SQLite store {db_path} is in use by {who}. A SQLite store serves one process (or the "
        "workers of one `trainctl serve --workers N`): stop that process, use another --data-dir, "
        "or move the store to PostgreSQL (TRAINCTL_DATABASE_URL=postgresql+psycopg://...) to run "
        "several replicas"
    )
