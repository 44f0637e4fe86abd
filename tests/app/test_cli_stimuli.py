"""`melab stimuli validate` end to end, and the rating options of `melab gui`."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import main
from core.expressions import EMOTIONS
from protocols.demo_stimuli import ensure_demo_stimuli
from tests.protocols.rating_study import TrueClip, simulate_ratings, write_library

DESIGN = ("happiness", "sadness", "disgust")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A library of 3 clips per design emotion (one too long) and 8 raters' files."""
    folder = tmp_path_factory.mktemp("cli_study")
    ensure_demo_stimuli(folder)
    clips = [TrueClip(f"{e[:3]}{i}", e, 3.0 + i, 3.0 + 2 * i, hits=8 - 2 * i,
                      duration=90.0 if i == 0 else 4.0)
             for e in DESIGN for i in range(3)]
    library = write_library(folder, clips, {e: f"demo_{e}.mp4" for e in EMOTIONS},
                            neutral=("demo_neutral.mp4", 3.0))
    (folder / "ratings").mkdir()
    simulate_ratings(folder / "ratings", clips, 8)
    return library, folder / "ratings"


def test_validate_and_select_write_a_checked_library(study, tmp_path: Path, capsys) -> None:
    library, ratings = study
    out = tmp_path / "out"
    code = main(["stimuli", "validate", str(ratings), "--library", str(library), "--out",
                 str(out), "--select", "1", "--protocol", "demo"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "8 raters, 9 clips; 0 rater(s) with missing answers" in printed
    assert "valence: alpha" in printed and "ICC(3,1)" in printed
    assert f"{out / 'protocol.toml'}: OK" in printed
    assert {p.name for p in out.iterdir()} >= {"report.html", "clip_ratings.csv",
                                               "reliability.csv", "selection.csv",
                                               "library.toml", "protocol.toml"}
    selection = (out / "selection.csv").read_text(encoding="utf-8")
    assert "hap0,happiness,not chosen" in selection and "lasts 90 s, over 60 s" in selection
    roles = {line.split(",")[0]: line.split(",")[2] for line in selection.splitlines()[1:]}
    assert [c for c, r in roles.items() if r == "main"] == ["hap1", "sad1", "dis1"]
    practice = [c for c, r in roles.items() if r == "practice"]
    assert len(practice) == 1 and practice[0] in ("hap2", "sad2", "dis2")  # tied truth


def test_too_few_clips_write_the_report_but_no_library(study, tmp_path: Path,
                                                       capsys) -> None:
    library, ratings = study
    out = tmp_path / "out"
    code = main(["stimuli", "validate", str(ratings), "--library", str(library), "--out",
                 str(out), "--select", "3", "--protocol", "demo"])
    err = capsys.readouterr().err
    assert code == 2
    assert "too few eligible clips for --select 3 (happiness 2, sadness 2, disgust 2)" in err
    assert (out / "selection.csv").exists() and not (out / "library.toml").exists()


def test_a_bad_ratings_file_is_one_line_naming_file_and_row(study, tmp_path: Path,
                                                            capsys) -> None:
    library, ratings = study
    bad = tmp_path / "ratings_R99.csv"
    text = (ratings / "ratings_R01.csv").read_text(encoding="utf-8").replace("R01", "R99")
    lines = text.splitlines()
    lines[8] = lines[8].replace(lines[8].split(",")[2], "nope", 1)
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["stimuli", "validate", str(ratings), str(bad), "--library", str(library),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0] == (f"melab stimuli validate: error: {bad}:9: unknown clip id 'nope' "
                      "(not in the library)")


@pytest.mark.parametrize(("args", "message"), [
    (["--rating", "LIB"], "a rating session needs both --rating LIBRARY and --rater ID"),
    (["--rating", "LIB", "--rater", "R1", "--simulate"],
     "a rating session uses no devices: leave out --simulate"),
])
def test_gui_rating_options_are_checked(study, capsys, args: list[str], message: str) -> None:
    library, _ = study
    args = [str(library) if a == "LIB" else a for a in args]
    assert main(["gui", *args]) == 2
    assert message in capsys.readouterr().err
