"""`trainctl job|pipeline` and following a run to its end (also used by `runs wait`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable
from typing import Any

from app.cli import render, sweeps
from app.cli.client import EXIT_OK, EXIT_RUN_FAILED, Api, ApiProblem, CliError, Json, connect
from app.cli.progress import make_progress
from app.domain.steps import PIPELINE_STEPS

# The server caps one long-poll at 300 s; longer waits are several polls.
MAX_POLL_SECONDS = 300.0
# With --local, how long Ctrl-C waits for the canceled run to be recorded as ended.
CANCEL_SECONDS = 10.0


def build_body(args: argparse.Namespace) -> Json:
    """The request body; options left unset are omitted so the service's defaults apply."""

    def present(**values: Any) -> Json:
        return {k: v for k, v in values.items() if v is not None}

    tags = dict(args.tags)
    if getattr(args, "evaluation_output", None) is not None:
        tags["evaluation_output"] = args.evaluation_output
    body = present(
        kind=args.command,
        experiment_name=args.experiment_name,
        model_name=args.model_name,
        compute=args.compute_name,
        environment=args.environment_name,
        pipeline_name=getattr(args, "pipeline", None),
        force_rerun=args.force_rerun or None,
        tags=tags or None,
    )
    for key, section in (
        ("data_asset", present(name=args.data_asset_name, version=args.data_asset_version)),
        (
            "hyperparameters",
            present(reg_rate=args.reg_rate, solver=args.solver, **sweeps.family_values(args)),
        ),
        ("promotion", present(metric=args.promotion_metric, min_improvement=args.min_improvement)),
        ("sweep", sweeps.sweep_body(args)),
    ):
        if section:
            body[key] = section
    return body


async def follow(
    api: Api, run: Json, *, quiet: bool, give_up_after: float | None = None, local: bool = False
) -> Json:
    """Long-poll the run until it ends (or `give_up_after` seconds pass), feeding the progress display."""
    progress = make_progress(sys.stdout, quiet=quiet)
    deadline = None if give_up_after is None else time.monotonic() + give_up_after

    async def trials() -> Json | None:
        # A sweep's live table of trials; a failed read only leaves the table as it was.
        if quiet or not run.get("sweep"):
            return None
        with contextlib.suppress(ApiProblem):
            return await api.trials(run["id"])
        return None

    progress.update(run, await trials())
    try:
        while run["status"] not in ("completed", "failed", "canceled"):
            poll = min(progress.interval, MAX_POLL_SECONDS)
            if deadline is not None:
                poll = min(poll, deadline - time.monotonic())
                if poll <= 0:
                    break
            request = asyncio.ensure_future(api.wait(run["id"], max(poll, 0.05)))
            try:
                while not (await asyncio.wait({request}, timeout=progress.redraw))[0]:
                    progress.tick()
            finally:
                request.cancel()  # only does something when we are being interrupted
            run = request.result()
            progress.update(run, await trials())
    except asyncio.CancelledError:  # Ctrl-C
        if local:
            # Left alone, the run would resume at the next start on this data directory.
            with contextlib.suppress(CliError):
                await api.cancel(run["id"])
                run = await api.wait(run["id"], CANCEL_SECONDS)  # so the store records the end
            print(f"\n{run['id']} {run['status']}", file=sys.stderr)
        else:
            print(
                f"\nstill {run['status']}: follow it again with `trainctl runs wait {run['id']}`, "
                f"or stop it with `trainctl runs cancel {run['id']}`",
                file=sys.stderr,
            )
        raise
    return run


async def _optional(call: Awaitable[Json]) -> Json | None:
    """A summary part that may legitimately not exist (no outcome for a failed run)."""
    try:
        return await call
    except ApiProblem as problem:
        if 400 <= problem.status < 500:
            return None
        raise


async def summarize(api: Api, run: Json, *, as_json: bool) -> int:
    """Print the finished run: steps, metrics per step and the decision; return the exit code."""
    if run["status"] not in ("completed", "failed", "canceled"):
        raise CliError(
            f"run {run['id']} is still {run['status']} after the timeout; "
            f"`trainctl runs wait {run['id']}` keeps following it",
            EXIT_RUN_FAILED,
        )
    has_metrics = any(s.get("mlflow_run_id") for s in run.get("steps", []))
    metrics, outcome, trials = await asyncio.gather(
        _optional(api.metrics(run["id"])) if has_metrics else _none(),
        _optional(api.outcome(run["id"])) if run["kind"] == "pipeline" else _none(),
        _optional(api.trials(run["id"])) if run.get("sweep") else _none(),
    )
    if as_json:
        print(render.as_json({"run": run, "metrics": metrics, "outcome": outcome, "trials": trials}))
    else:
        parts = [render.run_line(run), render.steps_table(run)]
        if trials:
            parts.append(render.trials_block(trials))
        if metrics:
            parts.append(render.metrics_block(metrics))
        if outcome:
            parts.append(render.outcome_block(outcome))
        elif run["kind"] == "job" and run["status"] == "completed":
            parts.append("decision\n  none: a job only trains; run a pipeline to evaluate and register")
        if run.get("error"):
            failed = next(
                (s["name"] for s in run.get("steps", []) if s["status"] == "failed"), PIPELINE_STEPS[0]
            )
            parts.append(f"error: {run['error']}\n  see `trainctl runs logs {run['id']} --step {failed}`")
        print("\n\n".join(parts))
    return EXIT_OK if run["status"] == "completed" else EXIT_RUN_FAILED


async def _none() -> None:
    return None


async def submit_command(args: argparse.Namespace) -> int:
    body = build_body(args)
    as_json = bool(getattr(args, "json", False))
    wait = args.wait or args.local
    async with connect(args) as api:
        run = await api.submit(body, args.idempotency_key)
        if not wait:
            if as_json:
                print(render.as_json(run))
            else:
                print(
                    f"submitted {run['id']} ({run['kind']}, {run['status']})\n"
                    f"follow it: trainctl runs wait {run['id']}"
                )
            return EXIT_OK
        run = await follow(api, run, quiet=as_json, local=args.local)
        return await summarize(api, run, as_json=as_json)
