"""What a training request asks for, and the typed spec a run is built from, with every default.

Each default stands here and nowhere else: the API request, the stored spec, the CLI's help and
the components' YAML and script defaults (pinned by tests) all follow these. That includes the
model families and their hyper-parameters, and the sweep options.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from typing_extensions import TypedDict

from app.domain.search import Distribution, Point, Sampling, Value, field_errors
from app.domain.steps import StepName

DEFAULT_EXPERIMENT = "diabetes-training"
DEFAULT_MODEL = "diabetes-classifier"
DEFAULT_DATA_ASSET = "diabetes-diagnostics"
#: trainctl's own Azure ML environment (components/environment/conda.yml); as a bare name it is
#: registered with a content-addressed version. `NAME:VERSION` pins another, `NAME@latest`
#: follows one you maintain (app/backends/azureml/environments.py).
DEFAULT_ENVIRONMENT = "trainctl-diabetes"
LATEST = "latest"
#: Bumped when the stored shape of RunSpec changes; the store upgrades older documents.
#: (Sweeps and model families only added optional fields: version 1 documents still read as they were.)
SPEC_VERSION = 1

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=NAME_PATTERN)]
# Azure ML's rule for experiment names (it refuses others only when the job is created): the
# service refuses them at submission on every backend, so a run never fails later for its name.
ExperimentName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$",
        description="Letters, digits, '_' and '-', starting with a letter or digit (Azure ML's rule).",
    ),
]
RunKind = Literal["job", "pipeline"]
Solver = Literal["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"]
Metric = Literal["accuracy", "precision", "recall", "f1", "roc_auc"]
ModelType = Literal["logistic_regression", "random_forest", "gradient_boosting"]
Goal = Literal["maximize", "minimize"]
# Control characters would corrupt logs, headers and the CSV/MLflow tags these travel into.
TagKey = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
TagValue = Annotated[str, Field(max_length=512, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
Environment = Annotated[str, Field(max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-:@]*$")]
AssetVersion = Annotated[
    str, Field(pattern=r"^(latest|[1-9][0-9]{0,8})$", description='A version number, or "latest".')
]

DEFAULT_MODEL_TYPE: ModelType = "logistic_regression"
#: Each family's hyper-parameters with their defaults: the original scripts' for logistic
#: regression, scikit-learn's own for the tree ensembles (None: no limit, the estimator's default).
FAMILY_DEFAULTS: dict[str, dict[str, Value | None]] = {
    "logistic_regression": {"reg_rate": 0.01, "solver": "lbfgs"},
    "random_forest": {"n_estimators": 100, "max_depth": None, "min_samples_leaf": 1},
    "gradient_boosting": {"learning_rate": 0.1, "n_estimators": 100, "max_depth": 3},
}
#: Every hyper-parameter a request may fix or sweep, model_type first.
HYPERPARAMETERS = ("model_type", *dict.fromkeys(n for names in FAMILY_DEFAULTS.values() for n in names))
TEXT_HYPERPARAMETERS = frozenset({"model_type", "solver"})
WHOLE_HYPERPARAMETERS = frozenset({"n_estimators", "max_depth", "min_samples_leaf"})

DEFAULT_SAMPLING: Sampling = "random"
DEFAULT_MAX_TRIALS = 20
MAX_TRIALS = 200
DEFAULT_MAX_CONCURRENT_TRIALS = 4


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HyperparameterValues(TypedDict, total=False):
    """The hyper-parameters as given (or filled with their family's defaults)."""

    model_type: ModelType
    reg_rate: float
    solver: Solver
    n_estimators: int
    max_depth: int
    min_samples_leaf: int
    learning_rate: float


class Hyperparameters(_Strict):
    """The fixed hyper-parameters. Shown and stored as given: without a sweep, the family's
    defaults are filled in (so a logistic regression reads ``{reg_rate, solver}`` as it always
    did); with one, only what the caller fixed, the rest varies per trial."""

    model_type: ModelType = Field(default=DEFAULT_MODEL_TYPE, description="The model family.")
    # Strict numbers: a string "0.1" or a boolean is a caller's mistake, not a number to guess at.
    reg_rate: float = Field(
        default=0.01,
        gt=0,
        le=1e6,
        strict=True,
        description="logistic_regression: inverse of C (C = 1 / reg_rate).",
    )
    solver: Solver = Field(default="lbfgs", description="logistic_regression: the solver.")
    n_estimators: int | None = Field(
        default=None, ge=1, le=2000, strict=True, description="random_forest, gradient_boosting"
    )
    max_depth: int | None = Field(
        default=None, ge=1, le=100, strict=True, description="random_forest, gradient_boosting"
    )
    min_samples_leaf: int | None = Field(
        default=None, ge=1, le=10_000, strict=True, description="random_forest"
    )
    learning_rate: float | None = Field(
        default=None, gt=0, le=10, strict=True, description="gradient_boosting"
    )

    @field_validator("reg_rate", "learning_rate")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number greater than 0")
        return value

    @model_serializer(mode="wrap")
    def _as_given(self, handler: SerializerFunctionWrapHandler) -> HyperparameterValues:
        data = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set and v is not None}  # type: ignore[return-value]

    def given(self) -> dict[str, Value]:
        """What the caller fixed (family defaults included when there is no sweep)."""
        return {name: value for name in self.model_fields_set if (value := getattr(self, name)) is not None}

    def trial(self, point: Point | None = None) -> dict[str, Value]:
        """Every hyper-parameter of one candidate, model_type first: its family's defaults,
        overridden by the fixed values, overridden by a sweep's drawn ``point``. Names of other
        families are dropped (a flat search space, as in Azure ML sweeps)."""
        point = point or {}
        fixed = self.given()
        family = str(point.get("model_type", self.model_type))
        values: dict[str, Value] = {"model_type": family}
        for name, default in FAMILY_DEFAULTS[family].items():
            value = point.get(name, fixed.get(name, default))
            if value is not None:
                values[name] = getattr(Hyperparameters.model_validate({name: value}), name)
        return values


class PromotionRule(_Strict):
    metric: Metric = "roc_auc"
    min_improvement: float = Field(
        default=0.0,
        ge=0,
        le=1,
        strict=True,
        description="How much better than the champion the candidate must be.",
    )


class Objective(_Strict):
    metric: Metric = Field(default="roc_auc", description="A test metric train logs; the sweep ranks by it.")
    goal: Goal = "maximize"

    def rank(self, value: float | None) -> tuple[int, float]:
        """Sort key: the best score first; a trial without a finite score after every scored one."""
        if value is None or not math.isfinite(value):
            return (1, 0.0)
        return (0, -value if self.goal == "maximize" else value)


class SweepOptions(_Strict):
    """Many candidates at once: the best trial by the objective stands for the train step."""

    search_space: dict[str, Distribution] = Field(
        min_length=1,
        max_length=len(HYPERPARAMETERS),
        description='Per hyper-parameter one of {"choice": [...]}, {"uniform": [lo, hi]}, '
        '{"loguniform": [lo, hi]}, {"randint": [lo, hi]}.',
    )
    sampling: Sampling = DEFAULT_SAMPLING
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="random: the same seed draws the same trials (chosen and "
        "recorded at submission when left out).",
    )
    max_trials: int = Field(default=DEFAULT_MAX_TRIALS, ge=1, le=MAX_TRIALS)
    max_concurrent_trials: int = Field(default=DEFAULT_MAX_CONCURRENT_TRIALS, ge=1, le=MAX_TRIALS)
    objective: Objective = Field(default_factory=Objective)
    trial_timeout_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)

    def seeded(self, seed: int) -> SweepOptions:
        """With a recorded seed, so a resumed run draws the trials it drew before."""
        return (
            self
            if self.seed is not None or self.sampling != "random"
            else self.model_copy(update={"seed": seed})
        )


class DataAssetSelector(_Strict):
    """A data asset as a caller names it: a version number or "latest"."""

    name: Name = DEFAULT_DATA_ASSET
    version: AssetVersion = LATEST


class DataAssetRef(BaseModel):
    """A data asset as a backend needs it, resolved once at submission: the local engine gets a
    concrete version and its file; Azure ML resolves "latest" itself when it builds the job."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    path: Path | None = None


class RunOptions(_Strict):
    """What a caller chooses; shared by the API's request body and the stored spec."""

    kind: RunKind = "pipeline"
    experiment_name: ExperimentName = DEFAULT_EXPERIMENT
    model_name: Name = DEFAULT_MODEL
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    sweep: SweepOptions | None = Field(
        default=None, description="Search many candidates; the best goes on (to evaluate, for a pipeline)."
    )
    compute: Name | None = Field(
        default=None, description="Compute target (used on Azure ML, recorded locally)."
    )
    step_compute: dict[StepName, Name] = Field(
        default_factory=dict, description="Per-step compute overrides, e.g. train on a GPU cluster."
    )
    environment: Environment = Field(
        default=DEFAULT_ENVIRONMENT,
        description=(
            "Azure ML environment: a bare NAME is trainctl's own (conda.yml, versioned by content, "
            "created when missing); NAME:VERSION pins an existing one; NAME@latest follows one you maintain."
        ),
    )
    pipeline_name: Name | None = None
    promotion: PromotionRule = Field(default_factory=PromotionRule)
    force_rerun: bool = Field(default=False, strict=True)
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=50)

    @model_validator(mode="before")
    @classmethod
    def _family_defaults(cls, data: Any) -> Any:
        """Without a sweep the candidate is fully known: fill in its family's defaults."""
        if not isinstance(data, dict) or data.get("sweep") is not None:
            return data
        hyper = data.get("hyperparameters")
        if isinstance(hyper, Hyperparameters):
            hyper = hyper.model_dump()
        if hyper is None:
            hyper = {}
        if not isinstance(hyper, dict) or hyper.get("model_type", DEFAULT_MODEL_TYPE) not in FAMILY_DEFAULTS:
            return data  # field validation reports it
        defaults = FAMILY_DEFAULTS[str(hyper.get("model_type", DEFAULT_MODEL_TYPE))]
        return {**data, "hyperparameters": {**{k: v for k, v in defaults.items() if v is not None}, **hyper}}

    @model_validator(mode="after")
    def _hyperparameters_fit(self) -> RunOptions:
        hyper = self.hyperparameters
        if self.sweep is not None:
            # Imported here: the check reads these models, and this module is what it imports.
            from app.domain.sweepcheck import sweep_problems

            problems = sweep_problems(self.sweep, hyper)
        else:
            known = FAMILY_DEFAULTS[hyper.model_type]
            problems = [
                (
                    ("hyperparameters", name),
                    f"not a hyper-parameter of {hyper.model_type} (it takes {', '.join(known)})",
                )
                for name in hyper.given()
                if name != "model_type" and name not in known
            ]
        if problems:
            raise field_errors(problems)
        return self


class RunSpec(RunOptions):
    """Everything a backend needs to run one training request; built once, at submission."""

    run_id: str
    data_asset: DataAssetRef

    def compute_for(self, step: str) -> str | None:
        """The step's own compute override, if it has one."""
        return next((compute for name, compute in self.step_compute.items() if name == step), None)

    def with_data_version(self, version: str) -> RunSpec:
        return self.model_copy(update={"data_asset": self.data_asset.model_copy(update={"version": version})})

    def stored(self) -> dict[str, Any]:
        """The versioned JSON document the store keeps."""
        return {"version": SPEC_VERSION, "spec": self.model_dump(mode="json")}

    @classmethod
    def from_stored(cls, document: dict[str, Any]) -> RunSpec:
        version = document.get("version")
        if version != SPEC_VERSION:
            raise ValueError(f"stored run spec version {version!r} is not {SPEC_VERSION}")
        return cls.model_validate(document["spec"])
