"""Unusable input gives one clear `error: ...` line and exit code 2, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

HEADER = (
    "PatientID,Pregnancies,PlasmaGlucose,DiastolicBloodPressure,TricepsThickness,"
    "SerumInsulin,BMI,DiabetesPedigree,Age,Diabetic"
)
ROWS = [
    "1354778,0,171,80,34,23,43.50972593,1.213191354,21,0",
    "1147438,8,92,93,47,36,21.24057571,0.158364981,23,0",
    "1640031,7,115,47,52,35,41.51152348,0.079018568,23,0",
    "1883350,9,103,78,25,304,29.58219193,1.282869847,43,1",
    "1424119,1,85,59,27,35,42.60453585,0.549541871,22,0",
    "1619297,0,82,92,9,253,19.72416021,0.103424498,26,0",
    "1660149,0,133,47,19,227,21.94135672,0.174159779,21,0",
    "1458769,0,67,87,43,36,18.27772300,0.236165059,26,0",
    "1201647,8,80,95,33,24,26.62492885,0.443947388,53,1",
    "1403912,1,72,31,40,42,36.88957571,0.103943637,26,0",
]


def csv(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def run_train(scripts: dict[str, ModuleType], data: Path, tmp_path: Path) -> int:
    argv = ["--training_data", str(data), "--model_output", str(tmp_path / "model")]
    rc: int = scripts["train"].main([*argv, "--test_data", str(tmp_path / "test")])
    return rc


def with_value(row: int, column: int, value: str) -> list[str]:
    rows = list(ROWS)
    cells = rows[row].split(",")
    cells[column] = value
    rows[row] = ",".join(cells)
    return rows


CASES = {
    "empty file": ("", "training data is empty"),
    "blank lines only": ("\n\n", "training data is empty"),
    "header only": (HEADER + "\n", "training data has a header but no rows"),
    "missing columns": (
        csv([",".join(r.split(",")[:-2]) for r in ROWS], HEADER.rsplit(",", 2)[0]),
        "missing columns: Age, Diabetic",
    ),
    "extra columns": (
        csv([r + ",x,1" for r in ROWS], HEADER + ",Notes,Ward"),
        "unexpected columns: Notes, Ward",
    ),
    "non-numeric value": (
        csv(with_value(4, 2, "high")),
        "column PlasmaGlucose, row 5: 'high' is not a finite number",
    ),
    "empty value": (csv(with_value(2, 6, "")), "column BMI, row 3 is empty"),
    "infinite value": (csv(with_value(7, 6, "inf")), "column BMI, row 8: 'inf' is not a finite number"),
    "label not 0/1": (csv(with_value(5, 9, "2")), "column Diabetic must be 0 or 1: found 2 in row 6"),
    "single class": (csv([r for r in ROWS if r.endswith(",0")]), "column Diabetic has a single class (0)"),
    "too few rows": (csv(ROWS[:2] + ROWS[3:4]), "too few rows for a stratified split"),
}


@pytest.mark.parametrize(("text", "message"), CASES.values(), ids=CASES.keys())
def test_bad_training_data(
    text: str,
    message: str,
    scripts: dict[str, ModuleType],
    write_csv: Callable[[str, str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_train(scripts, write_csv("bad.csv", text), tmp_path) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "model").exists()


def test_missing_training_file(
    scripts: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_train(scripts, tmp_path / "nope.csv", tmp_path) == 2
    assert one_error_line(capsys) == f"error: training data not found: {tmp_path / 'nope.csv'}"


def test_folder_with_several_csvs_is_rejected(
    scripts: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "asset"
    folder.mkdir()
    (folder / "a.csv").write_text(csv(ROWS))
    (folder / "b.csv").write_text(csv(ROWS))
    assert run_train(scripts, folder, tmp_path) == 2
    assert "expected one CSV file in folder" in one_error_line(capsys)


def test_bad_test_data_for_evaluate(
    scripts: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "test").mkdir()
    argv = ["--model_input", str(tmp_path / "model"), "--test_data", str(tmp_path / "test")]
    argv += ["--model_name", "diabetes-model", "--evaluation_output", str(tmp_path / "out")]
    assert scripts["evaluate"].main(argv) == 2
    assert "test data not found" in one_error_line(capsys)

    (tmp_path / "test" / "test.csv").write_text(
        csv([",".join(r.split(",")[:-1]) for r in ROWS], HEADER.rsplit(",", 1)[0])
    )
    assert scripts["evaluate"].main(argv) == 2
    assert "test data is missing columns: Diabetic" in one_error_line(capsys)

    (tmp_path / "test" / "test.csv").write_text(csv(ROWS))
    assert scripts["evaluate"].main(argv) == 2
    assert "not an MLflow model folder" in one_error_line(capsys)


def test_bad_decision_for_register(
    scripts: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    argv = ["--model_input", str(tmp_path / "model"), "--evaluation_output", str(evaluation)]
    argv += [
        "--model_name",
        "diabetes-model",
        "--data_asset",
        "d:1",
        "--register_output",
        str(tmp_path / "r"),
    ]
    assert scripts["register"].main(argv) == 2
    assert "decision not found" in one_error_line(capsys)

    decision: dict[str, object] = {
        "model_name": "other",
        "candidate_metrics": {},
        "champion": None,
        "deploy": False,
        "reason": "x",
    }
    (evaluation / "decision.json").write_text(json.dumps(decision))
    assert scripts["register"].main(argv) == 2
    assert "decision is for model 'other', not 'diabetes-model'" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("flag", "value"), [("--reg_rate", "0"), ("--solver", "adam"), ("--test_size", "1.5")]
)
def test_bad_arguments_exit_2(
    flag: str, value: str, scripts: dict[str, ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--training_data", "x.csv", "--model_output", "m", "--test_data", "t", flag, value]
    with pytest.raises(SystemExit) as exc:
        scripts["train"].main(argv)
    assert exc.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
