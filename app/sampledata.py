"""Seeded generator of synthetic diabetes-diagnostics data.

The columns and value ranges follow the public diabetes-diagnostics sample used by the
Azure ML tutorials, so the components and the original scripts accept the output as is.
Rows are independent draws: the label of a row depends only on that row's features and
the noise drawn for it, never on the size of the data set, so a prefix of a large sample
has the same statistics as a small one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from app.domain.dataset import COLUMNS

# Logistic model of the label. The intercept is calibrated so that about a third of the
# rows are positive; the noise term keeps a logistic regression's ROC AUC in the 0.8-0.9
# band, so that a badly regularized model scores visibly worse than a good one.
_INTERCEPT = -0.92
_WEIGHTS = {
    "PlasmaGlucose": 0.045,
    "BMI": 0.085,
    "Age": 0.055,
    "Pregnancies": 0.16,
    "DiabetesPedigree": 0.9,
}
_CENTRES = {
    "PlasmaGlucose": 107.0,
    "BMI": 31.5,
    "Age": 33.0,
    "Pregnancies": 3.0,
    "DiabetesPedigree": 0.45,
}


def _clipped_int(values: np.ndarray, low: int, high: int) -> np.ndarray:
    clipped: np.ndarray = np.clip(np.rint(values), low, high).astype(np.int64)
    return clipped


def generate(rows: int, seed: int = 42) -> pd.DataFrame:
    """Return `rows` synthetic patients; the same (rows, seed) always gives the same frame."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    rng = np.random.default_rng(seed)

    # Identifiers are unique 7-digit numbers while the sample fits in that range.
    id_span = max(9_000_000, rows)
    patient_id = 1_000_000 + rng.choice(id_span, size=rows, replace=False)

    # Adults, skewed young like the original clinic population.
    age = _clipped_int(21 + rng.gamma(shape=1.6, scale=8.5, size=rows), 21, 77)
    pregnancies = np.clip(rng.poisson(0.4 + 0.11 * (age - 21)), 0, 14).astype(np.int64)
    glucose = _clipped_int(rng.normal(107 + 0.25 * (age - 33), 24, rows), 44, 192)
    diastolic = _clipped_int(rng.normal(71 + 0.15 * (age - 33), 12, rows), 24, 117)
    triceps = _clipped_int(rng.normal(28, 10, rows), 7, 93)
    insulin = _clipped_int(rng.lognormal(np.log(85), 0.75, rows), 14, 796)
    bmi = np.round(np.clip(rng.normal(31.5, 7.5, rows), 18.0, 56.5), 8)
    pedigree = np.round(np.clip(rng.lognormal(np.log(0.4), 0.6, rows), 0.078, 2.42), 9)

    logit = np.full(rows, _INTERCEPT)
    for name, values in (
        ("PlasmaGlucose", glucose),
        ("BMI", bmi),
        ("Age", age),
        ("Pregnancies", pregnancies),
        ("DiabetesPedigree", pedigree),
    ):
        logit += _WEIGHTS[name] * (values - _CENTRES[name])
    diabetic = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    return pd.DataFrame(
        {
            "PatientID": patient_id.astype(np.int64),
            "Pregnancies": pregnancies,
            "PlasmaGlucose": glucose,
            "DiastolicBloodPressure": diastolic,
            "TricepsThickness": triceps,
            "SerumInsulin": insulin,
            "BMI": bmi,
            "DiabetesPedigree": pedigree,
            "Age": age,
            "Diabetic": diabetic,
        },
        columns=list(COLUMNS),
    )


def write_csv(path: str | Path, rows: int = 10_000, seed: int = 42) -> Path:
    """Write `generate(rows, seed)` as CSV (parent folders created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    generate(rows, seed).to_csv(target, index=False)
    return target
