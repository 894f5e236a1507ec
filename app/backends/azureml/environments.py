"""Which Azure ML environment a run uses, and how trainctl's own one is named and versioned.

Three spellings of the `environment` option, each with one meaning:

- `NAME` (the default, `trainctl-diabetes`): trainctl's environment, built from
  `components/environment/conda.yml` on `BASE_IMAGE`, registered under NAME with a
  *content-addressed* version (a hash of the conda file and the image). Changing conda.yml
  gives a new version, created on the next submission; an unchanged one is reused. It never
  resolves to a version someone else registered under the same name (the original sample's
  `diabetes-classify` is Python 3.10 without the packages the steps import).
- `NAME:VERSION`: exactly that version, which must exist; trainctl never changes it.
- `NAME@LABEL` (`@latest`): what Azure ML means by it, the version holding the label (for
  `latest`, the newest) at submission, re-checked every few minutes; it must exist, and
  trainctl never creates it. For an environment you maintain yourself, with the packages of
  conda.yml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.domain.errors import BackendError

from .content import content_version

CONDA_FILE = Path("environment/conda.yml")
BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
# The version prefix of trainctl's environment: bump it to force a rebuild of an unchanged
# conda file (e.g. after the base image tag moved to a broken build).
OWNED_VERSION_BASE = "1"


@dataclass(frozen=True)
class EnvironmentRef:
    """A parsed `environment` option."""

    name: str
    version: str | None = None
    label: str | None = None

    @property
    def owned(self) -> bool:
        """trainctl's own environment: built from conda.yml, versioned by its content."""
        return self.version is None and self.label is None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.label}" if self.label is not None else self.name


def parse_environment(text: str) -> EnvironmentRef:
    """`[azureml:]NAME`, `NAME:VERSION` or `NAME@LABEL`."""
    text = text.removeprefix("azureml:")
    if "@" in text:
        name, label = text.split("@", 1)
        return EnvironmentRef(name, label=label)
    if ":" in text:
        name, version = text.rsplit(":", 1)
        return EnvironmentRef(name, version=version)
    return EnvironmentRef(text)


def conda_file(components_dir: Path) -> Path:
    return components_dir / CONDA_FILE


def owned_version(components_dir: Path) -> str:
    """The version trainctl's environment has for this conda file and base image.

    Computed from local files only: a restarted service knows the version to reference
    without asking the workspace.
    """
    path = conda_file(components_dir)
    if not path.is_file():
        raise BackendError(f"trainctl's environment is built from {path}, which does not exist")
    return content_version(OWNED_VERSION_BASE, path.read_bytes(), BASE_IMAGE.encode())


def conda_problem(components_dir: Path) -> str | None:
    """Why conda.yml cannot build an image (missing, not YAML, no python or pip packages)."""
    path = conda_file(components_dir)
    if not path.is_file():
        return f"{path} does not exist"
    try:
        document: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        return f"{path} is not valid YAML: {str(error).splitlines()[0]}"
    dependencies = document.get("dependencies") if isinstance(document, dict) else None
    if not isinstance(dependencies, list):
        return f"{path} lists no dependencies"
    if not any(isinstance(d, str) and d.split("=")[0].strip() == "python" for d in dependencies):
        return f"{path} does not pin python"
    if not any(isinstance(d, dict) and d.get("pip") for d in dependencies):
        return f"{path} lists no pip packages (the steps import mlflow, scikit-learn, pandas...)"
    return None


def owned_environment(name: str, components_dir: Path) -> Any:
    """The Environment entity trainctl registers under `name`."""
    from azure.ai.ml.entities import Environment

    problem = conda_problem(components_dir)
    if problem is not None:
        raise BackendError(f"cannot create environment {name}: {problem}")
    return Environment(
        name=name,
        version=owned_version(components_dir),
        image=BASE_IMAGE,
        conda_file=str(conda_file(components_dir)),
        description="Created by trainctl from components/environment/conda.yml (version: content hash)",
        tags={"trainctl.owned": "true"},
    )


def describe(requested: str, components_dir: Path) -> str:
    """The environment a run uses, for messages: the exact version where it is known locally."""
    ref = parse_environment(requested)
    if not ref.owned:
        return str(ref)
    try:
        return f"{ref.name}:{owned_version(components_dir)} (built from components/environment/conda.yml)"
    except BackendError:
        return ref.name


def image_build_error(step: str, reason: str, environment: str) -> str:
    """A step that failed because its environment's image could not be built, as a run error
    that says which environment and what to do about it."""
    return (
        f"step {step} failed: the image of environment {environment} could not be built ({reason}). "
        "Fix the environment's packages (trainctl's own: components/environment/conda.yml) or use "
        "an environment version that builds (environment NAME:VERSION); the build log is in the "
        "step's outputs in Azure ML studio."
    )


def is_image_build_failure(reason: str) -> bool:
    """Azure ML reports a failed environment build as the step's error ("Image build failed")."""
    text = reason.lower()
    return "image build" in text or "imagebuild" in text
