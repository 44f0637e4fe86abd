"""`melab record --camera file:VIDEO` then `melab analyze`: the face track and "no face"."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"


def _melab(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(("video", "face"), [("single_face.mp4", True), ("no_face.mp4", False)])
def test_recorded_video_is_tracked_and_a_faceless_one_is_reported(
        video: str, face: bool, tmp_path: Path) -> None:
    done = _melab("record", "--camera", f"file:{DATA / video}", "--duration", "5",
                  "--lsl-scope", "machine", "--out", str(tmp_path / "sessions"))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "analysis"
    done = _melab("analyze", str(tmp_path / "sessions"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    with (out / "face_track.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"segment", "frame", "found", "x", "y", "w", "h", "quality"}
    found = sum(r["found"] == "1" for r in rows)
    with (out / "spotting.csv").open() as fh:
        spotted = list(csv.DictReader(fh))
    if face:
        assert found >= 0.95 * len(rows)
        assert all(float(r["quality"]) > 0 and int(r["w"]) > 0 for r in rows if r["found"] == "1")
    else:
        assert found == 0 and spotted == []
        assert f"Face found in 0 of {len(rows)} frames" in done.stdout
        assert "(all" in done.stdout and "not spotted" in done.stdout
        assert "no face in segment" in (out / "report.html").read_text()
