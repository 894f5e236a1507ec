"""Human output: tables for lists, aligned `key: value` for one thing. Pure functions of JSON."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, get_args

from app.domain.spec import Metric

Json = dict[str, Any]

# The metrics people compare first; autologged ones follow alphabetically.
HEADLINE_METRICS: tuple[str, ...] = get_args(Metric)
WIDTH = 100


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def fields(pairs: Iterable[tuple[str, Any]], indent: str = "") -> str:
    items = [(k, "-" if v is None or v == "" else str(v)) for k, v in pairs]
    width = max((len(k) for k, _ in items), default=0) + 1
    return "\n".join(f"{indent}{(k + ':').ljust(width)} {v}" for k, v in items)


def when(stamp: str | None) -> str | None:
    """A server timestamp in the reader's local time, to the second."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return stamp


def seconds(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:.1f}s" if value < 120 else f"{int(value // 60)}m{int(value % 60):02d}s"


def elapsed(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def run_line(run: Json) -> str:
    took = seconds(elapsed(run.get("started_at"), run.get("ended_at")))
    status = run["status"] + (f" ({run['raw_status']})" if run["raw_status"].lower() != run["status"] else "")
    return f"{run['id']}  {run['kind']}  {status}" + (f"  in {took}" if took else "")


def steps_table(run: Json) -> str:
    rows = [
        (
            s["name"],
            s["status"],
            "yes" if s.get("reused") else "no",
            seconds(s.get("duration_seconds")),
            s.get("exit_code"),
            s.get("error"),
        )
        for s in run.get("steps", [])
    ]
    return table(("STEP", "STATUS", "REUSED", "TIME", "EXIT", "ERROR"), rows)


def run_details(run: Json) -> str:
    asset = run.get("data_asset") or {}
    params = run.get("hyperparameters") or {}
    rule = run.get("promotion") or {}
    head = fields(
        [
            ("id", run["id"]),
            ("kind", run["kind"]),
            ("status", f"{run['status']} (raw {run['raw_status']})"),
            ("backend", run.get("backend")),
            ("experiment", run.get("experiment_name")),
            ("model", run.get("model_name")),
            ("data asset", f"{asset.get('name')}:{asset.get('version')}"),
            ("hyperparameters", ", ".join(f"{k}={v}" for k, v in params.items())),
            ("promotion", f"{rule.get('metric')} must improve by at least {rule.get('min_improvement')}"),
            ("compute", run.get("compute")),
            ("environment", run.get("environment")),
            ("pipeline", run.get("pipeline_name")),
            ("tags", ", ".join(f"{k}={v}" for k, v in (run.get("tags") or {}).items())),
            ("created", when(run.get("created_at"))),
            ("started", when(run.get("started_at"))),
            ("ended", when(run.get("ended_at"))),
            ("backend job", run.get("backend_job_name")),
            ("studio", run.get("studio_url")),
            ("error", run.get("error")),
        ]
    )
    return f"{head}\n\n{steps_table(run)}"


def runs_table(items: list[Json]) -> str:
    rows = [
        (
            r["id"],
            r["kind"],
            r["status"],
            r.get("experiment_name"),
            r.get("model_name"),
            when(r.get("created_at")),
            seconds(elapsed(r.get("started_at"), r.get("ended_at"))),
        )
        for r in items
    ]
    return table(("ID", "KIND", "STATUS", "EXPERIMENT", "MODEL", "CREATED", "TIME"), rows)


def _metric_order(name: str) -> tuple[int, str]:
    base = name.removeprefix("candidate_")
    return (HEADLINE_METRICS.index(base) if base in HEADLINE_METRICS else len(HEADLINE_METRICS), name)


def metrics_block(metrics: Json) -> str:
    lines = ["metrics"]
    steps = [s for s in metrics.get("steps", []) if s.get("metrics")]
    width = max((len(s["step"]) for s in steps), default=0) + 2
    for step in steps:
        values = step["metrics"]
        text = "  ".join(f"{k}={number(values[k])}" for k in sorted(values, key=_metric_order))
        wrapped = textwrap.wrap(text, WIDTH - width - 2, break_on_hyphens=False) or [""]
        lines.append(f"  {step['step'].ljust(width)}{wrapped[0]}")
        lines.extend(f"  {' ' * width}{more}" for more in wrapped[1:])
    if not steps:
        lines.append("  (none recorded)")
    return "\n".join(lines)


def hyperparameters(values: Json) -> str:
    # Significant digits, not decimals: a drawn reg_rate of 0.000123 must not read as 0.0001.
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def trials_summary(summary: Json | None) -> str:
    """``16 trials: 14 completed, 2 failed`` (the counts that are not zero)."""
    if not summary:
        return "no trials yet"
    counts = [
        f"{summary[s]} {s}"
        for s in ("completed", "running", "queued", "failed", "canceled")
        if summary.get(s)
    ]
    return f"{summary['total']} trials: {', '.join(counts) or 'none started'}"


def trials_table(trials: Json, limit: int | None = None) -> str:
    """Trials best first: the best marked ``*``, its objective, its hyper-parameters."""
    objective = trials.get("objective") or {}
    metric = str(objective.get("metric", "objective"))
    items = trials.get("items", [])
    shown = items if limit is None else items[:limit]
    rows = [
        (
            "*" if t.get("best") else "",
            t["name"],
            t["status"] + (" (reused)" if t.get("reused") else ""),
            number(t.get("objective")),
            seconds(t.get("duration_seconds")),
            hyperparameters(t.get("hyperparameters") or {}),
        )
        for t in shown
    ]
    text = table(("", "TRIAL", "STATUS", metric.upper(), "TIME", "HYPERPARAMETERS"), rows)
    if len(items) > len(shown):
        text += f"\n... {len(items) - len(shown)} more (trainctl runs trials RUN_ID)"
    return text


def trials_block(trials: Json) -> str:
    objective = trials.get("objective") or {}
    summary = trials.get("summary")
    head = f"trials ({objective.get('goal')} {objective.get('metric')}; {trials_summary(summary)})"
    lines = [head, trials_table(trials)]
    for failure in (summary or {}).get("failures", []):
        lines.append(f"  {failure['trial']} failed: {failure['error']}")
    return "\n".join(lines)


def model_ref(ref: Json | None, metric: str | None = None) -> str:
    if not ref:
        return "none"
    text = f"{ref['name']}:{ref['version']}"
    value = (ref.get("metrics") or {}).get(metric) if metric else None
    return f"{text} ({metric} {number(value)})" if value is not None else text


def outcome_block(outcome: Json) -> str:
    rule = outcome.get("rule") or {}
    metric = rule.get("metric")
    rule_text = (
        f"{metric} must improve by at least {rule.get('min_improvement')}"
        if metric
        else ", ".join(f"{k}={v}" for k, v in rule.items())
    )
    best = [("best trial", _best_trial(outcome["best_trial"]))] if outcome.get("best_trial") else []
    body = fields(
        [
            ("deploy", "yes" if outcome["deploy"] else "no"),
            ("reason", outcome.get("reason")),
            ("rule", rule_text),
            *best,
            (
                "registered model",
                model_ref(outcome.get("registered_model")) if outcome.get("registered_model") else "none",
            ),
            ("champion before", model_ref(outcome.get("champion_before"), metric)),
            ("champion after", model_ref(outcome.get("champion_after"), metric)),
        ],
        indent="  ",
    )
    return f"decision\n{body}"


def _best_trial(best: Json | None) -> str | None:
    if not best:
        return None
    score = f" ({number(best['objective'])})" if best.get("objective") is not None else ""
    return f"{best['name']}{score} {hyperparameters(best.get('hyperparameters') or {})}".rstrip()


def model_details(model: Json) -> str:
    head = fields([("model", model["name"]), ("champion", model.get("champion_version") or "none")])
    versions = table(
        ("VERSION", "CHAMPION", "CREATED", *HEADLINE_METRICS, "RUN", "DATA"),
        [
            (
                v["version"],
                "*" if v.get("is_champion") else "",
                when(v.get("created_at")),
                *(number(v["metrics"][m]) if m in v.get("metrics", {}) else None for m in HEADLINE_METRICS),
                (v.get("lineage") or {}).get("trainctl.run_id"),
                (v.get("lineage") or {}).get("data_asset"),
            )
            for v in model.get("versions", [])
        ],
    )
    history = table(
        ("PROMOTED", "VERSION", "BY RUN", "METRIC"),
        [
            (when(e.get("promoted_at")), e["version"], e["run_id"], f"{e['metric']}={number(e.get('value'))}")
            for e in model.get("champion_history", [])
        ],
    )
    return f"{head}\n\nversions\n{versions}\n\nchampion history\n{history}"


def assets_table(assets: Json) -> str:
    rows = []
    for asset in assets.get("items", []):
        for v in asset.get("versions", []):
            latest = "*" if v["version"] == asset.get("latest_version") else ""
            rows.append(
                (
                    v["name"],
                    v["version"],
                    latest,
                    v["rows"],
                    f"{v['positive_rate']:.1%}",
                    v["source"],
                    when(v.get("created_at")),
                    v.get("description"),
                )
            )
    return table(("NAME", "VERSION", "LATEST", "ROWS", "POSITIVE", "SOURCE", "CREATED", "DESCRIPTION"), rows)
