"""Step names: stable API that dashboards and other systems key on."""

from __future__ import annotations

from enum import StrEnum


class StepName(StrEnum):
    TRAIN = "train-model"
    EVALUATE = "evaluate-model"
    REGISTER = "register-model"


PIPELINE_STEPS: tuple[StepName, ...] = (StepName.TRAIN, StepName.EVALUATE, StepName.REGISTER)
JOB_STEPS: tuple[StepName, ...] = (StepName.TRAIN,)
