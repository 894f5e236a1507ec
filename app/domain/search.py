"""Search spaces of a hyper-parameter sweep and how trials are drawn from them.

A distribution is one of the four Azure ML sweeps use (``choice``, ``uniform``, ``loguniform``,
``randint``), written as a one-key object, e.g. ``{"loguniform": [0.0001, 10]}``. Sampling is
``grid`` (every combination of choices, in the order given) or ``random`` (seeded: the same seed
gives the same trials). Nothing here knows the model families: ``project`` is handed in, so this
module stays a pure function of its inputs.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Value = str | int | float
Point = dict[str, Value]
Sampling = Literal["grid", "random"]
DistributionKind = Literal["choice", "uniform", "loguniform", "randint"]
#: Random draws tried per wanted trial before giving up on finding new distinct points (a small
#: space of choices may hold fewer points than max_trials).
DRAWS_PER_TRIAL = 20
#: Significant digits of a drawn number: legible in a trial table, stable as a command-line value.
DIGITS = 6
Bound = Annotated[float, Field(allow_inf_nan=False)]


Problems = list[tuple[tuple[str | int, ...], str]]


def field_errors(problems: Problems) -> ValidationError:
    """One validation error per (loc, reason), each ``loc`` relative to the model being
    validated, so a 422 names the exact field, e.g. ``body.sweep.search_space.reg_rate.loguniform``."""
    return ValidationError.from_exception_data(
        "sweep",
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{reason}", {"reason": message}), loc=loc, input=None
            )
            for loc, message in problems
        ],
    )


class Distribution(BaseModel):
    """Exactly one of the four keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    choice: list[Value] | None = Field(default=None, min_length=1, max_length=1000)
    uniform: tuple[Bound, Bound] | None = None
    loguniform: tuple[Bound, Bound] | None = None
    randint: tuple[int, int] | None = Field(
        default=None, description="Whole numbers from lo (included) to hi (excluded), as Azure ML's randint."
    )

    @model_validator(mode="after")
    def _one_well_formed_range(self) -> Distribution:
        given = [
            kind for kind in ("choice", "uniform", "loguniform", "randint") if getattr(self, kind) is not None
        ]
        if len(given) != 1:
            raise field_errors([((), "give exactly one of choice, uniform, loguniform, randint")])
        kind = given[0]
        if kind != "choice":
            lo, hi = getattr(self, kind)
            if lo >= hi:
                raise field_errors([((kind,), f"lo must be below hi, got [{lo}, {hi}]")])
            if kind == "loguniform" and lo <= 0:
                raise field_errors([((kind,), f"loguniform needs lo > 0, got {lo}")])
        return self

    @model_serializer(mode="wrap")
    def _only_the_given_kind(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}

    @property
    def kind(self) -> DistributionKind:
        for kind in ("choice", "uniform", "loguniform", "randint"):
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated to hold one kind")

    @property
    def bounds(self) -> tuple[float, float]:
        """lo and hi of a range distribution."""
        lo, hi = getattr(self, self.kind)
        return float(lo), float(hi)

    def extremes(self) -> list[Value]:
        """The values a trial could get at the edges: what a hyper-parameter must accept."""
        if self.choice is not None:
            return list(self.choice)
        if self.randint is not None:
            return [self.randint[0], self.randint[1] - 1]
        lo, hi = self.bounds
        return [lo, hi]

    def draw(self, rng: random.Random) -> Value:
        if self.choice is not None:
            return rng.choice(self.choice)
        if self.randint is not None:
            return rng.randrange(self.randint[0], self.randint[1])
        lo, hi = self.bounds
        value = (
            math.exp(rng.uniform(math.log(lo), math.log(hi)))
            if self.kind == "loguniform"
            else rng.uniform(lo, hi)
        )
        return float(f"{value:.{DIGITS}g}")


SearchSpace = dict[str, Distribution]
#: Turns a drawn point into the trial it stands for (its family's hyper-parameters only), or
#: None when the point is not a valid trial.
Project = Callable[[Point], Point]


def _key(point: Point) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in point.items()))


def _distinct(points: list[Point], limit: int) -> list[Point]:
    seen: set[tuple[tuple[str, str], ...]] = set()
    kept: list[Point] = []
    for point in points:
        key = _key(point)
        if key not in seen:
            seen.add(key)
            kept.append(point)
            if len(kept) == limit:
                break
    return kept


def grid(space: Mapping[str, Distribution], project: Project, limit: int | None = None) -> list[Point]:
    """Every combination of the choices, first hyper-parameter slowest. Points that differ only in
    a hyper-parameter their family ignores are one trial, run once."""
    names = list(space)
    choices = [space[name].choice or [] for name in names]
    points = [project(dict(zip(names, combo, strict=True))) for combo in itertools.product(*choices)]
    return _distinct(points, limit if limit is not None else len(points))


def random_points(space: Mapping[str, Distribution], project: Project, count: int, seed: int) -> list[Point]:
    """``count`` distinct points (fewer if the space holds fewer), the same for the same seed."""
    rng = random.Random(seed)
    seen: set[tuple[tuple[str, str], ...]] = set()
    points: list[Point] = []
    for _ in range(count * DRAWS_PER_TRIAL):
        point = project({name: dist.draw(rng) for name, dist in space.items()})
        if (key := _key(point)) not in seen:
            seen.add(key)
            points.append(point)
            if len(points) == count:
                break
    return points


def sample(
    space: Mapping[str, Distribution], sampling: Sampling, project: Project, count: int, seed: int
) -> list[Point]:
    if sampling == "grid":
        return grid(space, project, count)
    return random_points(space, project, count, seed)
