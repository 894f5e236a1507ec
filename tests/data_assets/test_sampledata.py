"""The seeded diabetes-diagnostics generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.sampledata import COLUMNS, generate, write_csv

EXPECTED_COLUMNS = [
    "PatientID",
    "Pregnancies",
    "PlasmaGlucose",
    "DiastolicBloodPressure",
    "TricepsThickness",
    "SerumInsulin",
    "BMI",
    "DiabetesPedigree",
    "Age",
    "Diabetic",
]
RANGES = {
    "Pregnancies": (0, 14),
    "PlasmaGlucose": (44, 192),
    "DiastolicBloodPressure": (24, 117),
    "TricepsThickness": (7, 93),
    "SerumInsulin": (14, 796),
    "BMI": (18.0, 56.5),
    "DiabetesPedigree": (0.078, 2.42),
    "Age": (21, 77),
    "Diabetic": (0, 1),
}


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return generate(20_000, seed=42)


def test_columns_and_types(sample: pd.DataFrame) -> None:
    assert list(sample.columns) == EXPECTED_COLUMNS == list(COLUMNS)
    assert len(sample) == 20_000
    for column in EXPECTED_COLUMNS:
        expected = np.floating if column in ("BMI", "DiabetesPedigree") else np.integer
        assert np.issubdtype(sample[column].dtype, expected), column
    assert not sample.isna().any().any()


def test_values_stay_in_realistic_ranges(sample: pd.DataFrame) -> None:
    for column, (low, high) in RANGES.items():
        assert sample[column].between(low, high).all(), column
    assert sample["PatientID"].is_unique
    assert sample["PatientID"].between(1_000_000, 9_999_999).all()
    assert 30 <= sample["Age"].median() <= 40  # a young-skewed adult population


def test_about_a_third_is_positive(sample: pd.DataFrame) -> None:
    assert 0.30 <= sample["Diabetic"].mean() <= 0.37
    for seed in range(3):
        assert 0.27 <= generate(2_000, seed)["Diabetic"].mean() <= 0.40


@pytest.mark.parametrize("feature", ["PlasmaGlucose", "BMI", "Age", "Pregnancies"])
def test_label_depends_on_the_risk_factors(sample: pd.DataFrame, feature: str) -> None:
    means = sample.groupby("Diabetic")[feature].mean()
    assert means[1] > means[0] * 1.05, means


def test_label_is_noisy_but_learnable(sample: pd.DataFrame) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x, y = sample.drop(columns=["PatientID", "Diabetic"]), sample["Diabetic"]
    model = LogisticRegression(max_iter=1000).fit(x[:15_000], y[:15_000])
    auc = roc_auc_score(y[15_000:], model.predict_proba(x[15_000:])[:, 1])
    assert 0.75 < auc < 0.92


def test_deterministic_per_seed() -> None:
    pd.testing.assert_frame_equal(generate(500, seed=3), generate(500, seed=3))
    assert not generate(500, seed=3).equals(generate(500, seed=4))


def test_any_size() -> None:
    assert list(generate(0, seed=1).columns) == EXPECTED_COLUMNS
    assert len(generate(1, seed=1)) == 1
    with pytest.raises(ValueError, match="rows must be >= 0"):
        generate(-1)


def test_write_csv_round_trips(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "nested" / "diabetes.csv", rows=300, seed=9)
    assert path == tmp_path / "nested" / "diabetes.csv"
    assert path.read_text().splitlines()[0] == ",".join(EXPECTED_COLUMNS)
    pd.testing.assert_frame_equal(pd.read_csv(path), generate(300, seed=9), check_exact=False, rtol=1e-12)


def test_write_csv_defaults(tmp_path: Path) -> None:
    frame = pd.read_csv(write_csv(tmp_path / "d.csv"))
    assert len(frame) == 10_000
    pd.testing.assert_frame_equal(frame, generate(10_000, seed=42), check_exact=False, rtol=1e-12)
