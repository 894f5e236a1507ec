"""One SQLite store, one owner: a second process is refused with a message that says what to
do; the workers of one `serve --workers N` join with their parent's token; a crash (SIGKILL)
leaves no stale lock behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.store.ownership import StoreInUse, claim_sqlite

HOLD = (
    "import sys, time; from pathlib import Path; from app.store.ownership import claim_sqlite; "
    "c = claim_sqlite(Path(sys.argv[1])); print(c.token, flush=True); time.sleep(60)"
)


def test_a_second_process_is_refused_and_a_dead_owner_leaves_no_lock(tmp_path: Path) -> None:
    db = tmp_path / "trainctl.db"
    owner = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        token = owner.stdout.readline().strip()
        with pytest.raises(StoreInUse) as refused:
            claim_sqlite(db)
        message = str(refused.value)
        assert str(db) in message and "TRAINCTL_DATABASE_URL" in message and "--workers" in message
        worker = claim_sqlite(db, token)  # a worker of that process
        assert worker.shared
        worker.release()
        with pytest.raises(StoreInUse):
            claim_sqlite(db, "not-the-token")
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
    time.sleep(0.1)
    claim = claim_sqlite(db)  # the kernel dropped the dead owner's lock
    assert not claim.shared
    claim.release()
