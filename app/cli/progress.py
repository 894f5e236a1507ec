"""Step progress while a run is followed: redrawn in place on a terminal, plain lines otherwise.

Both displays are fed the same run snapshots (from the long-poll), so what they show is
exactly what `runs show` would say at that moment; a sweep's snapshots come with its trials
(GET .../trials), shown as a live table of trials, best first.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from app.cli.render import number, seconds, trials_summary, trials_table

Json = dict[str, Any]

FINAL = frozenset({"completed", "failed", "canceled"})
#: Trials shown in the live table (best first); the rest are counted.
LIVE_TRIALS = 12


class Progress(Protocol):
    #: Seconds between snapshots; the long-poll still returns at once when the run ends.
    interval: float
    #: Seconds between redraws while a long-poll is in flight (None: draw on snapshots only).
    redraw: float | None

    def update(self, run: Json, trials: Json | None = None) -> None: ...

    def tick(self) -> None: ...


class Silent:
    """--json: nothing between the request and the answer; poll rarely, since only the end matters."""

    interval = 120.0
    redraw: float | None = None

    def update(self, run: Json, trials: Json | None = None) -> None:
        return None

    def tick(self) -> None:
        return None


def _step_label(step: Json) -> str:
    return str(step["status"]) + (" (reused)" if step.get("reused") else "")


def _items(trials: Json | None) -> list[Json]:
    return list((trials or {}).get("items") or [])


def _trial_label(trial: Json, trials: Json | None) -> str:
    label = _step_label(trial)
    metric = ((trials or {}).get("objective") or {}).get("metric")
    if trial.get("objective") is not None:
        label += f" ({metric} {number(trial['objective'])})"
    if trial.get("error"):
        label += f": {trial['error']}"
    return label + (", best" if trial.get("best") else "")


class LineProgress:
    """One line per change, so logs of CI jobs read as a timeline."""

    interval = 1.0
    redraw: float | None = None

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.seen: dict[str, str] = {}

    def tick(self) -> None:
        return None

    def update(self, run: Json, trials: Json | None = None) -> None:
        stamp = f"[{time.monotonic() - self.start:6.1f}s]"
        steps = run.get("steps", [])
        if not self.seen:
            # The plan once, then only changes: steps start queued, saying so per step is noise.
            names = ", ".join(s["name"] for s in steps)
            print(f"{stamp} run {run['id']}: {run['status']} ({names})", file=self.stream, flush=True)
            self.seen = {s["name"]: "queued" for s in steps} | {"run": run["status"]}
        trial_labels = [
            (t["name"], _trial_label(t, trials)) for t in sorted(_items(trials), key=lambda t: t["name"])
        ]
        for name, label in (
            [(s["name"], _step_label(s)) for s in steps] + trial_labels + [("run", run["status"])]
        ):
            if self.seen.get(name, "queued") != label:
                self.seen[name] = label
                print(f"{stamp} {name}: {label}", file=self.stream, flush=True)


class LiveProgress:
    """A block of lines redrawn in place: one per step, with a spinner and running times."""

    # One request a second keeps the server's access log readable; the spinner and the
    # running times are redrawn locally in between.
    interval = 1.0
    redraw: float | None = 0.2
    SPIN = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    ASCII_SPIN = "|/-\\"

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.drawn = 0
        self.ticks = 0
        self.last: Json | None = None
        self.trials: Json | None = None
        unicode = (getattr(stream, "encoding", None) or "").lower().replace("-", "").startswith("utf")
        self.spin = self.SPIN if unicode else self.ASCII_SPIN
        self.marks = (
            {"completed": "✓", "failed": "✗", "canceled": "⊘", "queued": "·"}
            if unicode
            else {"completed": "+", "failed": "x", "canceled": "-", "queued": "."}
        )

    def _mark(self, status: str) -> str:
        return self.marks.get(status) or self.spin[self.ticks % len(self.spin)]

    def _step_time(self, step: Json) -> str:
        if step.get("duration_seconds") is not None:
            return seconds(float(step["duration_seconds"])) or ""
        if step.get("started_at") and step["status"] not in FINAL:
            try:
                started = datetime.fromisoformat(step["started_at"])
            except ValueError:
                return ""
            if started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
            return seconds(max(0.0, (datetime.now(UTC) - started).total_seconds())) or ""
        return ""

    def tick(self) -> None:
        if self.last is not None:
            self.update(self.last, self.trials)

    def update(self, run: Json, trials: Json | None = None) -> None:
        self.last, self.trials = run, trials
        self.ticks += 1
        steps = run.get("steps", [])
        width = max((len(s["name"]) for s in steps), default=0)
        lines = [
            f"{self._mark(run['status'])} {run['id']}  {run['status']}  {time.monotonic() - self.start:.1f}s"
        ]
        for step in steps:
            label = _step_label(step).ljust(18)
            lines.append(
                f"  {self._mark(step['status'])} {step['name'].ljust(width)}  {label} {self._step_time(step)}"
            )
        if trials is not None and trials.get("items"):
            lines.append(f"  {trials_summary(trials.get('summary'))}")
            lines += ["    " + line for line in trials_table(trials, limit=LIVE_TRIALS).splitlines()]
        # Move to the top of the previous block and clear it: redraw rather than scroll.
        prefix = f"\x1b[{self.drawn}F\x1b[J" if self.drawn else ""
        self.stream.write(prefix + "\n".join(lines) + "\n")
        self.stream.flush()
        self.drawn = len(lines)


def make_progress(stream: TextIO, *, quiet: bool) -> Progress:
    if quiet:
        return Silent()
    isatty = getattr(stream, "isatty", None)
    return LiveProgress(stream) if isatty is not None and isatty() else LineProgress(stream)
