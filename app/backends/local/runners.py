"""Ways to run one step as its own process: forked from the warm zygote, or a fresh interpreter.

Both give each step its own process group (so cancel kills everything the step started) and its
own log file, and both report the exit code. The fresh-interpreter runner is the fallback when
the zygote cannot start or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepProcess:
    """One step's process to start."""

    key: str  # unique per attempt, e.g. "<run id>/<step>/<attempt>"
    script: Path
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path


@dataclass
class Handle:
    """A started step: its process group id and a future for its exit code."""

    pid: int | None = None
    started: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    exited: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def kill(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)


class StepRunner(Protocol):
    async def start(self) -> None: ...

    async def launch(self, step: StepProcess) -> Handle: ...

    async def close(self) -> None: ...


class FreshInterpreterRunner:
    """Each step in a new ``python script.py`` process: slow to start (~3 s of imports), simple."""

    async def start(self) -> None:
        return None

    async def launch(self, step: StepProcess) -> Handle:
        handle = Handle()
        with step.log_path.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(step.script),
                *step.argv,
                cwd=step.cwd,
                env={**os.environ, **step.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        handle.pid = proc.pid
        handle.started.set_result(proc.pid)

        async def wait() -> None:
            handle.exited.set_result(await proc.wait())

        asyncio.get_running_loop().create_task(wait())
        return handle

    async def close(self) -> None:
        return None


def _status_path(step: StepProcess) -> Path:
    """Where a forked step leaves its exit code (only the zygote, its parent, could wait for it)."""
    return step.log_path.with_name(step.log_path.name + ".exit")


def _read_status(path: Path | None) -> int:
    """The exit code a step wrote as it left; none means it was killed before it could."""
    if path is None:
        return -signal.SIGKILL
    try:
        code = int(path.read_text())
    except (OSError, ValueError):
        return -signal.SIGKILL
    path.unlink(missing_ok=True)
    return code


#: Set before numpy loads in the zygote: a 10,000-row logistic regression gains nothing from a
#: BLAS thread pool, and on two cores parallel steps would fight over it.
ZYGOTE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _with_repo_on_path() -> str:
    repo = str(Path(__file__).resolve().parents[3])
    current = os.environ.get("PYTHONPATH")
    return f"{repo}{os.pathsep}{current}" if current else repo


class ZygoteRunner:
    """Forks each step from a warm zygote process (see ``zygote.py``).

    ``warm()`` runs a throwaway pass of the components on tiny data inside the zygote, so lazy
    imports and first-call set-up (autolog patching, model saving, plotting, the registry) are
    paid once, not by every step.
    """

    def __init__(
        self,
        preload_scripts: list[Path],
        tracking_uri: str,
        stderr_log: Path,
        cwd: Path,
    ) -> None:
        self._preload = preload_scripts
        self._tracking_uri = tracking_uri
        self._stderr_log = stderr_log
        self._cwd = cwd
        self._proc: asyncio.subprocess.Process | None = None
        self._handles: dict[str, Handle] = {}
        self._status_files: dict[str, Path] = {}
        self._ready: asyncio.Future[dict[str, Any]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        self._stderr_log.parent.mkdir(parents=True, exist_ok=True)
        with self._stderr_log.open("ab") as err:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app.backends.local.zygote",
                *map(str, self._preload),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env={**os.environ, **ZYGOTE_ENV, "PYTHONPATH": _with_repo_on_path()},
                # MLflow roots a new experiment's artifacts in "./mlruns" of the process that
                # opens the store: in the zygote (and so in every step) that is the data dir.
                cwd=self._cwd,
                limit=1 << 20,
            )
        self._ready = asyncio.get_running_loop().create_future()
        # Nobody may be waiting when the zygote dies at start-up; the error is reported by
        # whoever awaits it later, so don't let asyncio call it "never retrieved".
        self._ready.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        self._reader = asyncio.get_running_loop().create_task(self._read_events())

    async def warm(self, steps: list[dict[str, Any]]) -> None:
        """Ask the zygote to run the throwaway steps and open the real store (in the
        background: steps launched meanwhile go first)."""
        await self._send(
            {
                "op": "warm",
                "steps": steps,
                "tracking_uri": self._tracking_uri,
                "log": str(self._stderr_log.with_name("warmup.log")),
            }
        )

    async def wait_ready(self) -> dict[str, Any]:
        assert self._ready is not None, "start() first"
        return await asyncio.shield(self._ready)

    async def launch(self, step: StepProcess) -> Handle:
        handle = Handle()
        self._handles[step.key] = handle
        self._status_files[step.key] = _status_path(step)
        await self._send(
            {
                "op": "run",
                "id": step.key,
                "script": str(step.script),
                "argv": step.argv,
                "env": step.env,
                "cwd": str(step.cwd),
                "log": str(step.log_path),
                "status": str(_status_path(step)),
            }
        )
        handle.pid = await handle.started
        return handle

    async def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()  # the zygote kills its children and leaves on EOF
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _send(self, message: dict[str, Any]) -> None:
        if not self.alive or self._proc is None or self._proc.stdin is None:
            raise RuntimeError("the warm step runner is not running")
        async with self._lock:
            self._proc.stdin.write(json.dumps(message).encode() + b"\n")
            await self._proc.stdin.drain()

    async def _read_events(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            async for line in self._proc.stdout:
                event = json.loads(line)
                self._dispatch(event)
        finally:
            self._fail_pending(RuntimeError("the warm step runner exited"))

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("ev")
        if kind == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(event)
        elif kind == "started" and (handle := self._handles.get(event["id"])) and not handle.started.done():
            handle.started.set_result(int(event["pid"]))
            self._watch_exit(event["id"], int(event["pid"]))
        elif kind == "exited":
            if (status := self._status_files.pop(event["id"], None)) is not None:
                status.unlink(missing_ok=True)
            handle = self._handles.pop(event["id"], None)
            if handle is not None and not handle.exited.done():
                handle.exited.set_result(int(event["code"]))

    def _watch_exit(self, key: str, pid: int) -> None:
        """Notice the step's exit through a pidfd instead of waiting for the zygote to report
        it: the zygote may be busy warming up in-process for a few seconds."""
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfd here, or already reaped: the event comes
            return
        loop = asyncio.get_running_loop()

        def exited() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            handle = self._handles.pop(key, None)
            if handle is not None and not handle.exited.done():
                handle.exited.set_result(_read_status(self._status_files.pop(key, None)))

        loop.add_reader(pidfd, exited)

    def _fail_pending(self, error: Exception) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
        for handle in self._handles.values():
            for fut in (handle.started, handle.exited):
                if not fut.done():
                    fut.set_exception(error)
        self._handles.clear()
