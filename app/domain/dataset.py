"""The diabetes-diagnostics data set: its columns and label, as the components read them."""

from __future__ import annotations

COLUMNS = (
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
)
LABEL = "Diabetic"
