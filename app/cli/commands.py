"""`trainctl runs|models|data`: thin readers of the API with human or --json output."""

from __future__ import annotations

import argparse

from app.cli import render
from app.cli.client import EXIT_BAD_INPUT, EXIT_OK, Api, CliError, Json, connect
from app.cli.submit import follow, summarize


def _emit(args: argparse.Namespace, value: Json, human: str) -> None:
    print(render.as_json(value) if getattr(args, "json", False) else human)


async def _runs(args: argparse.Namespace, api: Api) -> int:
    action, as_json = args.action, bool(getattr(args, "json", False))
    if action == "list":
        params: dict[str, str | int] = {"limit": args.limit}
        for key, value in (
            ("status", args.status),
            ("experiment_name", args.experiment),
            ("model_name", args.model),
            ("cursor", args.cursor),
        ):
            if value:
                params[key] = value
        page = await api.list_runs(params)
        human = render.runs_table(page["items"]) if page["items"] else "no runs"
        if page.get("next_cursor"):
            human += f"\n(more: --cursor {page['next_cursor']})"
        _emit(args, page, human)
        return EXIT_OK
    if action == "wait":
        run = await follow(api, await api.run(args.run_id), quiet=as_json, give_up_after=args.timeout)
        return await summarize(api, run, as_json=as_json)
    if action == "show":
        run = await api.run(args.run_id)
        _emit(args, run, render.run_details(run))
    elif action == "cancel":
        run = await api.cancel(args.run_id)
        _emit(args, run, f"{render.run_line(run)}: cancel requested")
    elif action == "logs":
        logs = await api.logs(args.run_id, args.step)
        _emit(args, logs, logs["text"].rstrip("\n") or f"(the {args.step} log is empty)")
    elif action == "outcome":
        outcome = await api.outcome(args.run_id)
        _emit(args, outcome, render.outcome_block(outcome))
    elif action == "trials":
        trials = await api.trials(args.run_id)
        _emit(
            args,
            trials,
            render.trials_block(trials) if trials["items"] else "no trials: the run has no sweep",
        )
    elif action == "metrics":
        metrics = await api.metrics(args.run_id)
        _emit(args, metrics, render.metrics_block(metrics))
    return EXIT_OK


async def _models(args: argparse.Namespace, api: Api) -> int:
    model = await api.model(args.name)
    _emit(args, model, render.model_details(model))
    return EXIT_OK


async def _data(args: argparse.Namespace, api: Api) -> int:
    if args.action == "list":
        assets = await api.data_assets()
        _emit(args, assets, render.assets_table(assets) if assets.get("items") else "no data assets")
        return EXIT_OK
    if not args.file.is_file():
        raise CliError(f"FILE: no such file: {args.file}", EXIT_BAD_INPUT)
    created = await api.upload(args.file, args.name, args.description)
    name, version = created["name"], created["version"]
    _emit(
        args,
        created,
        f"registered {name} version {version}: "
        f"{created['rows']} rows, {created['positive_rate']:.1%} positive\n"
        f"use it: trainctl pipeline --data_asset_name {name} --data_asset_version {version}",
    )
    return EXIT_OK


HANDLERS = {"runs": _runs, "models": _models, "data": _data}


async def api_command(args: argparse.Namespace) -> int:
    async with connect(args) as api:
        return await HANDLERS[args.command](args, api)
