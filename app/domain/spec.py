"""What a training request asks for, and the typed spec a run is built from, with every default.

Each default stands here and nowhere else: the API request, the stored spec, the CLI's help and
the components' YAML defaults (pinned by a test) all follow these.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.domain.steps import StepName

DEFAULT_EXPERIMENT = "diabetes-training"
DEFAULT_MODEL = "diabetes-classifier"
DEFAULT_DATA_ASSET = "diabetes-diagnostics"
DEFAULT_ENVIRONMENT = "diabetes-classify@latest"
LATEST = "latest"
#: Bumped when the stored shape of RunSpec changes; the store upgrades older documents.
SPEC_VERSION = 1

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=NAME_PATTERN)]
RunKind = Literal["job", "pipeline"]
Solver = Literal["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"]
Metric = Literal["accuracy", "precision", "recall", "f1", "roc_auc"]
# Control characters would corrupt logs, headers and the CSV/MLflow tags these travel into.
TagKey = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
TagValue = Annotated[str, Field(max_length=512, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
Environment = Annotated[str, Field(max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-:@]*$")]
AssetVersion = Annotated[
    str, Field(pattern=r"^(latest|[1-9][0-9]{0,8})$", description='A version number, or "latest".')
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hyperparameters(_Strict):
    # Strict: a string "0.1" or a boolean is a caller's mistake, not a number to guess at.
    reg_rate: float = Field(
        default=0.01, gt=0, le=1e6, strict=True, description="Inverse of C: C = 1 / reg_rate."
    )
    solver: Solver = "lbfgs"

    @field_validator("reg_rate")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("reg_rate must be a finite number greater than 0")
        return value


class PromotionRule(_Strict):
    metric: Metric = "roc_auc"
    min_improvement: float = Field(
        default=0.0,
        ge=0,
        le=1,
        strict=True,
        description="How much better than the champion the candidate must be.",
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
    experiment_name: Name = DEFAULT_EXPERIMENT
    model_name: Name = DEFAULT_MODEL
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    compute: Name | None = Field(
        default=None, description="Compute target (used on Azure ML, recorded locally)."
    )
    step_compute: dict[StepName, Name] = Field(
        default_factory=dict, description="Per-step compute overrides, e.g. train on a GPU cluster."
    )
    environment: Environment = DEFAULT_ENVIRONMENT
    pipeline_name: Name | None = None
    promotion: PromotionRule = Field(default_factory=PromotionRule)
    force_rerun: bool = Field(default=False, strict=True)
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=50)


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
