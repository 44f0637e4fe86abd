"""Coding-file import, the micro/macro rule, inter-coder agreement and session storage."""

from __future__ import annotations

import math

import h5py
import openpyxl
import pytest

from analysis.annotations import (
    AnnotationError,
    annotation_iou,
    coder_agreement,
    parse_aus,
    parse_emotion,
    read_annotations,
)
from core.expressions import classify_frames, classify_kind
from recordings.store.annotations import (
    Annotation,
    annotations_from_ground_truth,
    load_annotations,
    store_annotations,
)
from recordings.store.errors import SessionFormatError
from recordings.store.metadata import SessionMetadata
from recordings.store.session_writer import SessionWriter

CASME_CSV = """Subject,Filename,OnsetFrame,ApexFrame,OffsetFrame,Action Units,Estimated Emotion
01,EP02_01f,46,59,86,12,happiness
01,EP03_02,131,/,270,4+7,repression
02,EP05_02,1,41,201,AU1+AU2,Surprise
03,EP06_01,100,120,200,R12+R14,others
03,EP07_01,100,160,201,L10,Disgust
"""


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# --- micro / macro rule -----------------------------------------------------------------


def test_classify_kind_either_criterion():
    assert classify_kind(0.0, 0.3, 0.5) == "micro"  # exactly 500 ms onset->offset
    assert classify_kind(0.0, 0.3, 0.51) == "macro"
    assert classify_kind(0.0, 0.25, 2.0) == "micro"  # fast rise: exactly 250 ms to apex
    assert classify_kind(0.0, None, 0.4) == "micro"
    assert classify_kind(0.0, 0.26, None) == "macro"  # offset unknown, slow rise
    assert classify_kind(1.0, None, None) is None
    # frames at 200 fps: 100 frames elapsed = 0.5 s; 101 = 0.505 s with a 0.3 s rise
    assert classify_frames(100, 120, 200, 200.0) == "micro"
    assert classify_frames(100, 160, 201, 200.0) == "macro"
    assert classify_frames(1, 41, 201, 200.0) == "micro"  # 1 s long, 0.2 s rise


def test_parse_aus_and_emotion_variants():
    assert parse_aus("AU4+L10") == ("4", "L10")
    assert parse_aus("4 + 7") == ("4", "7")
    assert parse_aus("R12,14B") == ("R12", "14")  # intensity letter dropped
    assert parse_aus("AU 1+AU 2+au1") == ("1", "2")  # duplicates collapse
    assert parse_aus("/") == ()
    assert parse_aus("") == ()
    with pytest.raises(ValueError, match="X9"):
        parse_aus("4+X9")
    assert parse_emotion(" Happy ") == "happiness"
    assert parse_emotion("Others") == "others"
    assert parse_emotion("repression") == "repression"
    assert parse_emotion("") == ""
    with pytest.raises(ValueError, match="unknown emotion"):
        parse_emotion("boredom")


# --- import -------------------------------------------------------------------------------


def test_casme_csv_import(tmp_path):
    path = _write(tmp_path / "casme.csv", CASME_CSV)
    anns = read_annotations(path, fps=200.0, coder="A", session=1)
    assert [a.trial for a in anns] == ["EP02_01f", "EP03_02", "EP05_02", "EP06_01", "EP07_01"]
    first = anns[0]
    assert first == Annotation("01", "1", "EP02_01f", 46, 59, 86, None, None, None, ("12",),
                               "happiness", "micro", "A")
    assert anns[1].apex_frame is None  # '/' = apex not coded
    assert anns[1].kind == "macro"  # 139 frames = 0.695 s, no apex to rescue it
    assert anns[1].aus == ("4", "7") and anns[1].emotion == "repression"
    assert anns[2].kind == "micro"  # 1.0 s long but apex after 0.2 s
    assert anns[2].aus == ("1", "2") and anns[2].emotion == "surprise"
    assert anns[3].kind == "micro" and anns[3].aus == ("R12", "R14")
    assert anns[4].kind == "macro" and anns[4].aus == ("L10",)


def test_xlsx_import_header_variants_and_zero_offset(tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Micro-FACS codes, coder ZS"])  # title rows above the header are skipped
    ws.append([])
    ws.append(["subject", "filename", "Onset Frame", "apex_frame", "OFFSET FRAME", "AU",
               "Emotion", "Coder"])
    ws.append([1.0, "anger1_1", 557.0, 563.0, 0, "4+10", "anger", "ZS"])  # offset 0 = unknown
    ws.append([None, None, None, None, None, None, None, None])  # trailing blank row
    ws.append([2, "disgust2", 10, 20, 40, "AU9", "disgust", ""])
    path = tmp_path / "code.xlsx"
    book.save(path)
    anns = read_annotations(path, fps=30.0, coder="default")
    assert len(anns) == 2
    a, b = anns
    assert (a.subject, a.onset_frame, a.apex_frame, a.offset_frame) == ("1", 557, 563, None)
    assert a.kind == "micro"  # offset unknown; apex 6 frames at 30 fps = 0.2 s after onset
    assert a.coder == "ZS" and b.coder == "default"
    assert (b.subject, b.offset_frame, b.aus, b.kind) == ("2", 40, ("9",), "macro")  # 1 s


def test_time_based_import_seconds_and_ms(tmp_path):
    text = ("subject;session;trial;onset_s;apex_s;offset_s;aus;emotion\n"
            "P01;2;3;12.50;12.65;12.90;1+2;fear\n"
            "P01;2;3;20.0;20.6;22.0;12;happiness\n")
    anns = read_annotations(_write(tmp_path / "t.csv", text))  # no fps needed for seconds
    assert [(a.subject, a.session, a.trial) for a in anns] == [("P01", "2", "3")] * 2
    assert anns[0].onset_s == 12.5 and anns[0].offset_s == 12.9 and anns[0].onset_frame is None
    assert [a.kind for a in anns] == ["micro", "macro"]
    ms = "Subject,Trial,Onset (ms),Apex (ms),Offset (ms),AUs,Emotion\nP2,t1,1000,1200,1900,4,sad\n"
    (b,) = read_annotations(_write(tmp_path / "ms.csv", ms))
    assert (b.onset_s, b.apex_s, b.offset_s) == (1.0, 1.2, 1.9)
    assert b.kind == "micro" and b.emotion == "sadness"  # rise 200 ms


def test_all_malformed_rows_reported_together(tmp_path):
    bad = _write(tmp_path / "bad.csv", CASME_CSV.splitlines()[0] + "\n" + "\n".join([
        "01,EP1,46,59,86,12,happiness",  # row 2 fine
        "01,EP2,46.5,59,86,12,happiness",  # row 3 fractional frame
        "01,EP3,60,50,86,12,happiness",  # row 4 apex before onset
        ",EP4,46,59,86,12,happiness",  # row 5 no subject
        "01,EP5,46,59,86,Q7,happiness",  # row 6 bad AU
        "01,EP6,46,59,86,12,boredom",  # row 7 unknown emotion
        "01,EP7,46,/,/,12,happiness",  # row 8 neither apex nor offset
    ]) + "\n")
    no_onset = _write(tmp_path / "noonset.csv", "Subject,Filename,AUs\n1,x,4\n")
    with pytest.raises(AnnotationError) as info:
        read_annotations([bad, no_onset], fps=200.0)
    issues = info.value.issues
    assert [(i.file.split("/")[-1], i.row) for i in issues] == [
        ("bad.csv", 3), ("bad.csv", 4), ("bad.csv", 5), ("bad.csv", 6), ("bad.csv", 7),
        ("bad.csv", 8), ("noonset.csv", 1)]
    reasons = [i.reason for i in issues]
    assert "not a frame number" in reasons[0]
    assert "apex (50 frame) before onset (60 frame)" in reasons[1]
    assert reasons[2] == "subject is empty"
    assert "Q7" in reasons[3]
    assert "boredom" in reasons[4]
    assert "cannot tell micro from macro" in reasons[5]
    assert "onset" in reasons[6]
    assert "bad.csv: row 3:" in str(info.value)


def test_frame_file_without_fps_is_one_file_level_issue(tmp_path):
    path = _write(tmp_path / "casme.csv", CASME_CSV)
    with pytest.raises(AnnotationError) as info:
        read_annotations(path)
    assert [(i.row, "fps" in i.reason) for i in info.value.issues] == [(0, True)]


# --- agreement ------------------------------------------------------------------------------


def _ann(trial, onset, offset, aus, subject="1", coder="A"):
    return Annotation(subject, "1", trial, onset, None, offset, aus=tuple(aus), coder=coder)


def test_coder_agreement_worked_example():
    coder_a = [
        _ann("c1", 10, 40, ["1", "2", "5"]),
        _ann("c1", 100, 130, ["4", "7"]),
        _ann("c2", 10, 40, ["12"]),  # B never codes c2
    ]
    coder_b = [
        _ann("c1", 30, 60, ["1"], coder="B"),  # overlaps A1 less than the next one
        _ann("c1", 12, 40, ["1", "2"], coder="B"),  # IoU 29/31 with A1
        _ann("c1", 105, 130, ["4"], coder="B"),  # IoU 26/31 with A2
    ]
    result = coder_agreement(coder_a, coder_b)
    assert [(p.a.onset_frame, p.b.onset_frame) for p in result.pairs] == [(10, 12), (100, 105)]
    first, second = result.pairs
    assert first.iou == pytest.approx(29 / 31)
    assert (first.common, first.total, first.r) == (2, 5, pytest.approx(0.8))
    assert (second.common, second.total, second.r) == (1, 3, pytest.approx(2 / 3))
    assert result.r == pytest.approx(2 * 3 / 8)  # pooled: 2 * (2 + 1) / (5 + 3)
    assert result.mean_r == pytest.approx((0.8 + 2 / 3) / 2)
    assert [a.trial for a in result.only_a] == ["c2"]
    assert [b.onset_frame for b in result.only_b] == [30]  # its A1 was taken by a closer one
    strict = coder_agreement(coder_a, coder_b, min_iou=0.9)
    assert [p.a.onset_frame for p in strict.pairs] == [10]


def test_annotation_iou_uses_seconds_when_frames_missing():
    a = Annotation("1", "", "t", None, None, None, 1.0, 1.1, 1.4)
    b = Annotation("1", "", "t", None, None, None, 1.2, None, 1.6)
    assert annotation_iou(a, b) == pytest.approx(0.2 / 0.6)
    assert math.isnan(coder_agreement([_ann("t", 1, 2, [])], [_ann("t", 1, 2, [])]).r)


# --- ground truth and storage ---------------------------------------------------------------

TRUTH = {
    "t0": 1000.0,
    "camera": {"fps": 150.0},
    "scenario": {
        "episodes": [
            {"trial": 0, "emotion": "fear", "start": 5.0, "end": 65.0, "report_end": 90.0,
             "neutral_end": 120.0},
            {"trial": 1, "emotion": "happiness", "start": 122.0, "end": 182.0,
             "report_end": 207.0, "neutral_end": 237.0},
        ],
        "expressions": [
            {"onset": 10.0, "apex": 10.1, "offset": 10.3, "kind": "micro", "emotion": "fear",
             "aus": [1, 4], "intensity": 2.0, "onset_frame": 1501, "apex_frame": 1516,
             "offset_frame": 1546, "onset_session_time": 1010.0,
             "apex_session_time": 1010.1, "offset_session_time": 1010.3},
            {"onset": 100.0, "apex": 100.5, "offset": 101.5, "kind": "macro",
             "emotion": "fear", "aus": [1, 2, 4], "intensity": 6.0, "onset_frame": 15001,
             "apex_frame": 15076, "offset_frame": 15226, "onset_session_time": 1100.0,
             "apex_session_time": 1100.5, "offset_session_time": 1101.5},
            {"onset": 130.0, "apex": 130.2, "offset": 130.4, "kind": "micro",
             "emotion": "happiness", "aus": [12], "intensity": 2.0, "onset_frame": 19501,
             "apex_frame": 19531, "offset_frame": 19561, "onset_session_time": 1130.0,
             "apex_session_time": 1130.2, "offset_session_time": 1130.4},
        ],
    },
}


def test_annotations_from_ground_truth():
    anns = annotations_from_ground_truth(TRUTH, "P01", 2)
    assert [a.trial for a in anns] == ["0", "0", "1"]  # the 2nd falls in trial 0's neutral phase
    assert anns[0] == Annotation("P01", "2", "0", 1501, 1516, 1546, 1010.0, 1010.1, 1010.3,
                                 ("1", "4"), "fear", "micro", "ground_truth")
    assert [a.kind for a in anns] == ["micro", "macro", "micro"]


def _session(tmp_path):
    folder = tmp_path / "P01_s1"
    meta = SessionMetadata(participant="P01", session=1, consent_level=2, protocol_name="t",
                           protocol_sha256="", devices={}, notes="")
    ticks = iter(range(100, 200))
    SessionWriter(folder, meta, [], clock=lambda: float(next(ticks))).close()
    return folder


def test_store_and_load_round_trip(tmp_path):
    folder = _session(tmp_path)
    partial = Annotation("P01", "1", "clip ü", 5, None, None, aus=(), kind="macro", coder="B")
    anns = [*annotations_from_ground_truth(TRUTH, "P01", 1), partial]
    store_annotations(folder, anns, "ground_truth")
    store_annotations(folder, anns[:1], "coder1")
    with h5py.File(folder / "session.h5", "r") as f:
        table = f["annotations/ground_truth"]
        assert table.shape == (4,)
        assert table["apex_frame"][3] == -1 and math.isnan(table["onset_s"][3])
        assert table["aus"][1].decode() == "1+2+4"
    loaded = load_annotations(folder)
    assert sorted(loaded) == ["coder1", "ground_truth"]
    assert loaded["ground_truth"] == anns
    assert load_annotations(folder, "coder1") == {"coder1": anns[:1]}
    with pytest.raises(ValueError, match="already holds"):
        store_annotations(folder, anns, "coder1")
    store_annotations(folder, anns[1:3], "coder1", overwrite=True)
    assert load_annotations(folder, "coder1")["coder1"] == anns[1:3]
    with pytest.raises(KeyError):
        load_annotations(folder, "nobody")
    with pytest.raises(ValueError, match="plain name"):
        store_annotations(folder, anns, "a/b")


def test_store_refuses_foreign_file(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    with h5py.File(folder / "session.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(SessionFormatError, match="not a melab-session file"):
        store_annotations(folder, [], "coder1")


def test_xlsx_errors_name_the_spreadsheet_row(tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Title"])
    ws.append(["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame"])
    ws.append([1, "a", 10, 12, 20])
    ws.append([1, "b", 10, 12, "end"])  # spreadsheet row 4
    book.save(tmp_path / "c.xlsx")
    with pytest.raises(AnnotationError) as info:
        read_annotations(tmp_path / "c.xlsx", fps=100.0)
    assert [(i.row, i.reason) for i in info.value.issues] == [
        (4, "offset frame 'end' is not a frame number (a time column needs a unit in its "
            "header, e.g. 'onset_s')")]
