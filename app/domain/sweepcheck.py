"""Whether a sweep fits the model families: every swept or fixed hyper-parameter belongs to a
family the sweep can pick, each distribution suits its hyper-parameter's type and range, and a
grid fits in ``max_trials``. Each problem is reported at its field, so a 422 names it."""

from __future__ import annotations

from pydantic import ValidationError

from app.domain.search import Problems, grid
from app.domain.spec import (
    FAMILY_DEFAULTS,
    HYPERPARAMETERS,
    TEXT_HYPERPARAMETERS,
    WHOLE_HYPERPARAMETERS,
    Hyperparameters,
    SweepOptions,
)


def families_knowing(name: str) -> list[str]:
    return [family for family, names in FAMILY_DEFAULTS.items() if name in names]


def sweep_problems(sweep: SweepOptions, hyper: Hyperparameters) -> Problems:
    """What is wrong with a sweep over these fixed hyper-parameters, each at its field."""
    problems: Problems = []
    space, fixed = sweep.search_space, hyper.given()

    def at(name: str, *more: str | int) -> tuple[str | int, ...]:
        return ("sweep", "search_space", name, *more)

    families: list[str] = [hyper.model_type]
    if "model_type" in space:
        families = [str(v) for v in space["model_type"].choice or []]
    for name, dist in space.items():
        if name not in HYPERPARAMETERS:
            problems.append((at(name), f"unknown hyper-parameter; one of {', '.join(HYPERPARAMETERS)}"))
            continue
        if name in fixed:
            problems.append((at(name), f"also fixed as hyperparameters.{name}: give it in one place"))
        if name in TEXT_HYPERPARAMETERS and dist.kind != "choice":
            problems.append((at(name, dist.kind), f"{name} takes choice only"))
            continue
        if name in WHOLE_HYPERPARAMETERS and dist.kind in ("uniform", "loguniform"):
            problems.append((at(name, dist.kind), f"{name} is a whole number: use randint or choice"))
            continue
        for index, value in enumerate(dist.extremes()):
            try:
                Hyperparameters.model_validate({name: value})
            except ValidationError as error:
                where = at(name, dist.kind, index) if dist.kind == "choice" else at(name, dist.kind)
                problems.append((where, str(error.errors()[0]["msg"])))
                break
    if problems:
        return problems
    for name in space:
        if name != "model_type" and not set(families_knowing(name)) & set(families):
            problems.append((at(name), f"not a hyper-parameter of {' or '.join(families)}"))
    for name in fixed:
        if name != "model_type" and not set(families_knowing(name)) & set(families):
            problems.append((("hyperparameters", name), f"not a hyper-parameter of {' or '.join(families)}"))
    if sweep.sampling == "grid" and not problems:
        ranges = [name for name, dist in space.items() if dist.kind != "choice"]
        problems += [(at(n), "grid sampling takes choice only (use random for ranges)") for n in ranges]
        if not ranges and (size := len(grid(space, hyper.trial))) > sweep.max_trials:
            problems.append(
                (
                    ("sweep", "max_trials"),
                    f"the grid holds {size} distinct trials, more than max_trials {sweep.max_trials}",
                )
            )
    return problems
