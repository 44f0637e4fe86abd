"""The whole analysis end to end on a small simulated dataset (melab analyze)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli.main import main
from recordings.simulated.dataset import DatasetConfig, write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    write_dataset(out, DatasetConfig(participants=2, duration=140.0, trials=2, eeg_channels=16,
                                     width=320, height=240))
    # One session synchronized (session_time), one not (host_time): the analysis reads both.
    assert main(["sync", str(out / "S01_s01")]) == 0
    return out


@pytest.fixture(scope="module")
def printed(dataset, tmp_path_factory):
    """(results folder, what `melab analyze` printed)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("results")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["analyze", str(dataset), "--out", str(out)]) == 0
    return out, stdout.getvalue()


@pytest.fixture(scope="module")
def results(printed):
    return printed[0]


@pytest.mark.slow
def test_analyze_prints_the_headline_figures(printed):
    out, text = printed
    summary = json.loads((out / "spotting_summary.json").read_text())
    assert f"micro    F1 {summary['micro_f1']:.3f}" in text
    assert f"with CCF: F1 {summary['micro_f1_ccf']:.3f}" in text
    fused = json.loads((out / "recognition.json").read_text())["3class"]["fused"]
    assert "Recognition 3class (LOSO" in text and f"UF1 {fused['uf1']:.3f}" in text


@pytest.mark.slow
def test_analyze_writes_every_result_file(results):
    for name in ("spotting.csv", "spotting_summary.json", "recognition.json",
                 "concordance.csv", "report.html"):
        assert (results / name).stat().st_size > 0, name
    rows = list(csv.DictReader((results / "spotting.csv").open()))
    assert rows and set(rows[0]) == {"subject", "session", "trial", "type", "onset_frame",
                                     "apex_frame", "offset_frame", "score", "kept_by_filter",
                                     "confident"}
    assert {r["subject"] for r in rows} == {"S01", "S02"}
    for r in rows:
        assert int(r["onset_frame"]) <= int(r["apex_frame"]) <= int(r["offset_frame"])
        assert r["type"] in ("micro", "macro") and r["kept_by_filter"] in ("True", "False")
        # 'rescue' (the default): every confident interval is kept; the sensitive tier is
        # micro only and kept only where the heart rate confirms it.
        assert (r["confident"] == "True" and r["kept_by_filter"] == "True") or (
            r["confident"] == "False" and r["type"] == "micro")
    html = (results / "report.html").read_text()
    assert "Spotting" in html and "Recognition" in html and "<img" in html


@pytest.mark.slow
def test_spotting_finds_the_simulated_expressions(results):
    summary = json.loads((results / "spotting_summary.json").read_text())
    for key in ("micro_f1", "micro_precision", "micro_recall", "macro_f1", "overall_f1",
                "micro_f1_ccf", "micro_precision_ccf", "micro_recall_ccf", "macro_f1_ccf",
                "overall_f1_ccf"):
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["micro_f1"] >= 0.6
    # In 'rescue' mode the filter only adds heart-confirmed candidates: recall never drops.
    assert summary["micro_tp_ccf"] >= summary["micro_tp"]
    assert summary["micro_recall_ccf"] >= summary["micro_recall"]
    assert summary["macro_tp_ccf"] == summary["macro_tp"]
    assert summary["macro_fp_ccf"] == summary["macro_fp"]


@pytest.mark.slow
def test_ccf_veto_mode_only_removes_candidates(dataset, tmp_path, capsys):
    assert main(["analyze", str(dataset), "--out", str(tmp_path), "--ccf", "maybe"]) == 2
    assert "ccf_mode must be one of ('rescue', 'veto'), not 'maybe'" in capsys.readouterr().err
    assert main(["analyze", str(dataset), "--out", str(tmp_path), "--ccf", "veto",
                 "--fusion-weights", "youden", "--fusion-voters", "signals",
                 "--classifier", "svm_linear"]) == 0
    summary = json.loads((tmp_path / "spotting_summary.json").read_text())
    assert summary["micro_tp_ccf"] <= summary["micro_tp"]
    assert summary["micro_fp_ccf"] <= summary["micro_fp"]
    rows = list(csv.DictReader((tmp_path / "spotting.csv").open()))
    assert rows and all(r["confident"] == "True" for r in rows)  # no sensitive tier
    recognition = json.loads((tmp_path / "recognition.json").read_text())
    assert recognition["fusion_weighting"] == "youden"
    assert recognition["classifier"] == "svm_linear"
    assert recognition["fusion_voters"] == ["ME", "EEG", "PPG", "ECG", "RSP", "SKT", "EDA"]


@pytest.mark.slow
def test_recognition_reports_every_modality_and_the_fusion(results):
    recognition = json.loads((results / "recognition.json").read_text())
    for task in ("3class", "7class"):
        scores = recognition[task]
        assert {"ME", "EEG", "ECG", "EDA", "PERI", "fused"} <= set(scores)
        for s in scores.values():
            assert {"acc", "f1", "uf1", "uar"} <= set(s)
            assert 0.0 <= s["uf1"] <= 1.0


@pytest.mark.slow
def test_recognition_fuses_me_eeg_and_the_whole_periphery_by_default(results):
    recognition = json.loads((results / "recognition.json").read_text())
    assert recognition["fusion_voters"] == ["ME", "EEG", "PERI"]
    assert recognition["classifier"] == "logreg" and recognition["fusion_weighting"] == "recall"


@pytest.mark.slow
def test_simulate_dataset_refuses_a_folder_with_sessions(dataset, capsys):
    assert main(["simulate-dataset", "--participants", "1", "--out", str(dataset)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_features_are_normalised_within_each_subject():
    import numpy as np

    from analysis.pipeline import normalise_per_subject

    x = np.array([[1.0, 5.0, np.nan], [3.0, 5.0, 2.0], [10.0, 0.0, 4.0], [30.0, 2.0, 8.0]])
    out = normalise_per_subject(x, ["a", "a", "b", "b"])
    np.testing.assert_allclose(out[:2, 0], [-1.0, 1.0])  # (1, 3): mean 2, sd 1
    np.testing.assert_allclose(out[2:, 0], [-1.0, 1.0])  # (10, 30): mean 20, sd 10
    np.testing.assert_array_equal(out[:2, 1], [0.0, 0.0])  # constant within a subject
    assert np.isnan(out[0, 2]) and out[1, 2] == 0.0


@pytest.mark.slow
def test_report_is_self_contained_with_a_timeline_per_clip(results):
    page = (results / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"<(link|script)\b", page)  # nothing fetched from elsewhere
    rows = list(csv.DictReader((results / "spotting.csv").open()))
    for folder in ("S01_s01", "S02_s01"):
        assert f"<h3>{folder}</h3>" in page  # the session overview
        for trial in ("trial001", "trial002"):  # a figure per clip, counting its result
            kept = [r for r in rows if r["session"] == "1" and r["subject"] == folder[:3]
                    and r["trial"] == str(int(trial[-3:]) - 1) and r["kept_by_filter"] == "True"]
            assert re.search(rf"{folder} / {trial} \(trial \d\), [\d.]+ s: \d+ annotated .*?; "
                             rf"{len(kept)} spotted, \d+ matching<", page), (folder, trial)


@pytest.mark.slow
def test_report_opens_in_chromium_without_errors(results, tmp_path):
    from tests.analysis.chromium import check_page, find_browser

    if find_browser() is None:
        pytest.skip("no Chromium: install Debian's chromium package (scripts/bootstrap.sh "
                    "does as root) to open report.html in a browser")
    check = check_page(results / "report.html", width=1366, height=768)
    (tmp_path / "report.png").write_bytes(check.screenshot)
    assert check.errors == [] and check.broken_images == []
    assert check.images == 4 + 4  # a timeline per clip; UF1 and confusion per task
    assert check.width <= 1366  # no sideways scrolling on a laptop screen
    shot = Image.open(io.BytesIO(check.screenshot)).convert("L")
    assert shot.size == (check.width, check.height) and check.height > 3000
    pixels = np.asarray(shot)
    assert (pixels < 200).mean() > 0.03 and pixels.std() > 20  # text and plots, not blank
    if os.environ.get("MELAB_DOCS_SCREENSHOTS"):  # the top of the page for docs/analysis.md
        docs = Path(__file__).resolve().parents[2] / "docs" / "report.png"
        top = Image.open(io.BytesIO(check.screenshot)).crop((0, 0, check.width, 2200))
        top.convert("RGB").quantize(colors=256).save(docs, optimize=True)
