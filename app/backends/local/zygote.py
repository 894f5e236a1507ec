"""The warm step runner: a process that imports the components' libraries once, then forks
one child per step.

Started by the service with ``python -m app.backends.local.zygote`` (a fresh interpreter, never
a fork of the multi-threaded server). It speaks JSON lines: requests on stdin, events on stdout.
It stays single-threaded and holds no open database connection while it forks, so each child
is a clean, isolated process that starts in milliseconds instead of paying ~3 s of imports.

Requests:  {"op": "run", "id": ..., "script": ..., "argv": [...], "env": {...}, "cwd": ..., "log": ...}
           {"op": "warm", "steps": [{"script", "argv", "env", "cwd"}, ...], "tracking_uri": ...}
Events:    {"ev": "ready", "threads": n, "warm_seconds": s, "warm_error": str|null}
           {"ev": "started", "id": ..., "pid": n}
           {"ev": "exited", "id": ..., "code": n}
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import runpy
import select
import signal
import sys
import threading
import time
import traceback
from typing import Any


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _run_script(script: str, argv: list[str]) -> int:
    """Run a script as ``python script argv...`` would, in this process; return its exit code."""
    sys.argv = [script, *argv]
    sys.path.insert(0, os.path.dirname(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        if stop.code is None:
            return 0
        if isinstance(stop.code, int):
            return stop.code
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.path.remove(os.path.dirname(script))
    return 0


def _reset_mlflow_globals() -> None:
    """Forget what the warm-up run left in MLflow's module state (active experiment, tracking
    URI), so each child reads its own environment, and close pooled database connections:
    a child must never share a SQLite connection with its parent."""
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is not None:
        with contextlib.suppress(Exception):
            while fluent.active_run():
                fluent.end_run()
        if hasattr(fluent, "_active_experiment_id"):
            fluent._active_experiment_id = None  # type: ignore[attr-defined]
    utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
    if utils is not None and hasattr(utils, "_tracking_uri"):
        utils._tracking_uri = None  # type: ignore[attr-defined]
    _dispose_sqlalchemy_engines()


def _dispose_sqlalchemy_engines() -> None:
    engine_mod = sys.modules.get("sqlalchemy.engine")
    if engine_mod is None:
        return
    import gc

    engine_type = engine_mod.Engine
    for obj in gc.get_objects():
        if isinstance(obj, engine_type):
            with contextlib.suppress(Exception):
                obj.dispose()


def _open_tracking_store(tracking_uri: str) -> None:
    """Build MLflow's store objects for the real URI once (schema checks cost ~0.85 s), so the
    children find them cached; their connection pools are disposed before any fork."""
    with contextlib.suppress(Exception):
        from mlflow.tracking._model_registry.utils import _get_store as registry_store
        from mlflow.tracking._tracking_service.utils import _get_store as tracking_store

        tracking_store(tracking_uri)  # type: ignore[no-untyped-call]
        registry_store(tracking_uri)  # type: ignore[no-untyped-call]


def _warm(request: dict[str, Any]) -> dict[str, Any]:
    """Run the throwaway steps in this process (their output goes to the warm-up log), then
    open the real store and forget the state they left behind."""
    started = time.perf_counter()
    error: str | None = None
    saved_env = dict(os.environ)
    sink = os.open(request.get("log") or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    saved_out, saved_err = os.dup(1), os.dup(2)
    try:
        # The throwaway steps write to stdout; keep the protocol stream clean.
        sys.stdout.flush()
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        for step in request.get("steps", []):
            os.environ.update(step.get("env", {}))
            cwd = os.getcwd()
            os.chdir(step.get("cwd", cwd))
            try:
                code = _run_script(step["script"], step["argv"])
            finally:
                os.chdir(cwd)
            if code != 0:
                error = f"warm-up step {os.path.basename(step['script'])} exited {code}"
                break
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (sink, saved_out, saved_err):
            os.close(fd)
        os.environ.clear()
        os.environ.update(saved_env)
    _reset_mlflow_globals()
    if request.get("tracking_uri"):
        _open_tracking_store(request["tracking_uri"])
        _reset_mlflow_globals()
    # Everything imported so far lives as long as the zygote: keep the garbage collector from
    # scanning it in every child (faster steps, and pages stay shared instead of copied).
    gc.freeze()
    return {
        "ev": "ready",
        "threads": threading.active_count(),
        "warm_seconds": round(time.perf_counter() - started, 3),
        "warm_error": error,
    }


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become a process group of its own, redirect output to the step's
    log, run the script, and leave with its exit code (never returning into the zygote loop)."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request["cwd"])
        os.environ.update(request.get("env", {}))
        code = _run_script(request["script"], request["argv"])
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        code = code & 0xFF if code >= 0 else 1
        if request.get("status"):
            with contextlib.suppress(OSError), open(request["status"], "w") as status:
                status.write(str(code))
        os._exit(code)


def serve() -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    # SIGCHLD wakes select() through this pipe, so exits are reported at once, without threads.
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    stdin = sys.stdin.fileno()
    children: dict[int, str] = {}
    pending = b""
    while True:
        readable, _, _ = select.select([stdin, wake_r], [], [])
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 4096):
                    pass
        _reap(children)
        if stdin not in readable:
            continue
        chunk = os.read(stdin, 1 << 16)
        if not chunk:  # the service is gone: its steps must not outlive it unobserved
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            return
        pending += chunk
        lines, _, pending = pending.rpartition(b"\n")
        requests = [json.loads(line) for line in lines.split(b"\n") if line.strip()]
        # Steps waiting to start go before a warm-up: a one-shot run's first step should not
        # wait for the warm-up that only later steps profit from.
        requests.sort(key=lambda r: r["op"] != "run")
        for request in requests:
            _handle(request, children)


def _handle(request: dict[str, Any], children: dict[int, str]) -> None:
    if request["op"] == "warm":
        _emit(_warm(request))
    elif request["op"] == "run":
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        children[pid] = request["id"]
        _emit({"ev": "started", "id": request["id"], "pid": pid})


def _reap(children: dict[int, str]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        run_id = children.pop(pid, None)
        if run_id is not None:
            _emit({"ev": "exited", "id": run_id, "code": os.waitstatus_to_exitcode(status)})


def _preload(scripts: list[str]) -> None:
    """Import what the components import at top level (pandas, sklearn, mlflow...)."""
    import importlib.util

    for script in scripts:
        spec = importlib.util.spec_from_file_location(f"_warm_{len(sys.modules)}", script)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and typing look their module up here
        sys.path.insert(0, os.path.dirname(script))
        try:
            spec.loader.exec_module(module)
        except Exception:  # a broken script fails in its own step, with its own log
            traceback.print_exc()
        finally:
            sys.path.remove(os.path.dirname(script))


#: What the components load lazily on their first run, measured with cProfile: MLflow's SQL
#: store (1.2 s), the skops model format (1.5 s) and MLflow's installed-packages map, which
#: save_model builds by scanning every distribution (1 s). Loaded up front, a step forked
#: before the warm-up pass has finished no longer pays for them.
LAZY_IMPORTS = (
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "skops.io",
    "matplotlib.pyplot",
)


def _preload_lazy() -> None:
    import importlib

    for name in LAZY_IMPORTS:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()  # type: ignore[no-untyped-call]


def main() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _preload(sys.argv[1:])
    _preload_lazy()
    gc.freeze()  # see _warm
    serve()
    # Tearing down an interpreter holding pandas, sklearn and mlflow takes about a second;
    # there is nothing to flush or close, so leave at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
