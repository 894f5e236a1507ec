"""What the local engine holds for one run while it executes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from app.backends.local.runners import Handle
from app.domain.pipeline import Step
from app.domain.spec import RunSpec
from app.domain.state import RunState, StepState, TrialState


@dataclass
class RunExecution:
    spec: RunSpec
    steps: tuple[Step, ...]
    state: RunState
    outputs: dict[str, dict[str, Path]] = field(default_factory=dict)  # step -> output -> path
    digests: dict[str, dict[str, str]] = field(default_factory=dict)
    handles: dict[str, Handle] = field(default_factory=dict)
    canceled: bool = False
    task: asyncio.Task[None] | None = None

    def step(self, name: str) -> StepState:
        """A step of the graph, or a sweep's trial (each runs as a step of its own)."""
        found = next((s for s in self.state.steps if s.name == name), None)
        return found if found is not None else self.trial(name)

    def trial(self, name: str) -> TrialState:
        return next(t for t in self.state.trials if t.name == name)
