"""Spotting evaluation (MEGC rules) and recognition metrics on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score

from analysis.evaluation import (
    Interval,
    SpottingCounts,
    evaluate_spotting,
    frame_iou,
    intervals_from_annotations,
    match_clip,
    spotted_interval,
    time_iou,
)
from analysis.metrics import (
    accuracy,
    confusion_matrix,
    macro_f1,
    score,
    unweighted_average_recall,
    unweighted_f1,
)
from recordings.store.annotations import Annotation

# --- spotting -------------------------------------------------------------------------------


def test_frame_iou_counts_frames_inclusively():
    assert frame_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert frame_iou((0, 9), (0, 19)) == 0.5  # exactly the MEGC threshold
    assert frame_iou((10, 20), (12, 22)) == pytest.approx(9 / 13)
    assert frame_iou((3, 3), (3, 3)) == 1.0  # a single frame overlaps itself fully
    assert frame_iou((0, 4), (5, 9)) == 0.0  # adjacent, no shared frame
    assert time_iou((1.0, 1.4), (1.2, 1.6)) == pytest.approx(0.2 / 0.6)


def test_counts_arithmetic():
    c = SpottingCounts(2, 4, 2).add(SpottingCounts(1, 0, 1))
    assert c == SpottingCounts(3, 4, 3)
    assert (c.precision, c.recall, c.f1) == (3 / 7, 3 / 6, pytest.approx(6 / 13))
    assert SpottingCounts().f1 == 0.0 and SpottingCounts(0, 3, 0).precision == 0.0


def test_duplicates_on_one_truth_are_false_positives():
    # Both candidates pass IoU 0.5 with the same truth; the better one (10/12) takes it.
    counts = match_clip([(12, 22), (11, 21)], [(10, 20)])
    assert counts == SpottingCounts(tp=1, fp=1, fn=0)
    assert match_clip([(0, 19)], [(0, 9)]) == SpottingCounts(1, 0, 0)  # IoU 0.5 counts
    assert match_clip([(0, 20)], [(0, 9)]) == SpottingCounts(0, 1, 1)  # 10/21 < 0.5


def test_pooled_micro_macro_overall_worked_example():
    truths = {
        "A": [Interval(10, 20), Interval(50, 60), Interval(100, 200, "macro")],
        "B": [Interval(5, 9)],
    }
    candidates = {
        "A": [(12, 22, "micro"),  # IoU 9/13 with [10, 20] but the next one is better: FP
              (11, 21, "micro"),  # IoU 10/12: TP
              (55, 70, "micro"),  # IoU 6/21 with [50, 60]: FP, and that truth is a FN
              (100, 150, "micro"),  # overlaps only a macro truth: a micro FP
              (100, 190, "macro")],  # IoU 91/101: macro TP
        "C": [(1, 4, "micro")],  # clip without ground truth: FP; clip B's truth: FN
    }
    result = evaluate_spotting(candidates, truths)
    assert result["micro"] == SpottingCounts(tp=1, fp=4, fn=2)
    assert result["macro"] == SpottingCounts(tp=1, fp=0, fn=0)
    assert result["overall"] == SpottingCounts(tp=2, fp=4, fn=2)
    assert (result["micro"].precision, result["micro"].recall) == (0.2, pytest.approx(1 / 3))
    assert result["micro"].f1 == 0.25  # 2 / (2 + 4 + 2)
    overall = result["overall"]
    assert (overall.precision, overall.recall, overall.f1) == (pytest.approx(1 / 3), 0.5, 0.4)
    # Pooled, not per clip: clip A alone has F1 2*2/(2*2+3+1) = 0.5, B 0, C 0 -> mean 1/6.
    assert overall.f1 != pytest.approx(1 / 6)


def test_spotted_interval_kind_from_length():
    assert spotted_interval(0, 15, 30.0) == Interval(0, 15, "micro")  # 0.5 s
    assert spotted_interval(0, 16, 30.0) == Interval(0, 16, "macro")


def test_intervals_from_annotations_use_apex_when_offset_missing():
    anns = [Annotation("1", "s", "t", 10, 15, 40, kind="micro"),
            Annotation("1", "s", "t", 100, 130, None, kind="macro"),
            Annotation("2", "s", "t", 5, 6, 9)]
    got = intervals_from_annotations(anns)
    assert got == {("1", "s", "t"): [Interval(10, 40), Interval(100, 130, "macro")],
                   ("2", "s", "t"): [Interval(5, 9)]}
    with pytest.raises(ValueError):
        intervals_from_annotations([Annotation("1", "", "t", None, None, None, 1.0, 1.1, 1.2)])


# --- recognition metrics ----------------------------------------------------------------------

Y_TRUE = ["a", "a", "a", "a", "b", "b", "c", "c"]
Y_PRED = ["a", "a", "b", "d", "b", "c", "c", "c"]  # 'd' is predicted but never true


def test_confusion_matrix_rows_truth_columns_prediction():
    m = confusion_matrix(Y_TRUE, Y_PRED)
    assert m.tolist() == [[2, 1, 0, 1], [0, 1, 1, 0], [0, 0, 2, 0], [0, 0, 0, 0]]
    assert confusion_matrix(Y_TRUE, Y_PRED, ["c", "a"]).tolist() == [[2, 0], [0, 2]]


def test_metrics_worked_example():
    # Per-class F1 = 2TP / (2TP + FP + FN): a 4/6, b 2/4, c 4/5, d 0/1.
    assert accuracy(Y_TRUE, Y_PRED) == 5 / 8
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx((2 / 3 + 0.5 + 0.8 + 0) / 4)
    assert unweighted_f1(Y_TRUE, Y_PRED) == pytest.approx((2 / 3 + 0.5 + 0.8) / 3)
    # Recall: a 2/4, b 1/2, c 2/2.
    assert unweighted_average_recall(Y_TRUE, Y_PRED) == pytest.approx(2 / 3)
    # F1 is scikit-learn's macro F1; UAR is its macro recall over the true classes.
    assert macro_f1(Y_TRUE, Y_PRED) == pytest.approx(
        f1_score(Y_TRUE, Y_PRED, average="macro", zero_division=0))
    assert unweighted_average_recall(Y_TRUE, Y_PRED) == pytest.approx(
        recall_score(Y_TRUE, Y_PRED, labels=["a", "b", "c"], average="macro"))


def test_score_bundle_and_label_order():
    s = score(Y_TRUE, Y_PRED, labels=["d", "c", "b", "a"])
    assert s.labels == ("d", "c", "b", "a")
    assert s.confusion[3].tolist() == [1, 0, 1, 2]  # truth 'a'
    assert (s.acc, s.uar) == (0.625, pytest.approx(2 / 3))
    assert s.as_dict()["uf1"] == pytest.approx(0.655555, abs=1e-6)
    with pytest.raises(ValueError, match="not in the given label list"):
        score(Y_TRUE, Y_PRED, labels=["a", "b", "c"])
    perfect = score([1, 2, 2], [1, 2, 2])
    assert (perfect.acc, perfect.f1, perfect.uf1, perfect.uar) == (1.0, 1.0, 1.0, 1.0)
    assert np.array_equal(perfect.confusion, [[1, 0], [0, 2]])


# --- the spotting summary: n/a where the truth has no instance ---------------------------

def test_spotting_summary_says_n_a_for_a_kind_without_truth():
    from analysis.outputs import spotting_summary

    candidates = {("S1", "1", "t1"): [Interval(10, 20, "micro"), Interval(100, 160, "macro")]}
    truths = {("S1", "1", "t1"): [Interval(11, 21, "micro"), Interval(300, 305, "micro")]}
    s = spotting_summary(candidates, candidates, truths)
    assert s["annotated"] and (s["micro_truth"], s["macro_truth"]) == (2, 0)
    assert (s["micro_tp"], s["micro_fp"], s["micro_fn"]) == (1, 0, 1)
    assert s["micro_f1"] == round(2 / 3, 4) and s["micro_recall"] == 0.5
    # No macro-expression in the truth: the macro candidate is not a false positive, macro
    # and overall figures are n/a (None), not 0.000; the candidate is still counted.
    for key in ("macro_f1", "macro_precision", "macro_recall", "macro_fp", "overall_f1",
                "overall_fp", "macro_f1_ccf"):
        assert s[key] is None, key
    assert s["macro_spotted"] == 1 and s["micro_spotted"] == 1


def test_spotting_summary_without_annotations_scores_nothing():
    from analysis.outputs import MEASURES, spotting_summary

    candidates = {("S1", "1", "t1"): [Interval(10, 20, "micro"), Interval(40, 45, "micro")]}
    s = spotting_summary(candidates, {("S1", "1", "t1"): []}, {("S1", "1", "t1"): []})
    assert not s["annotated"]
    assert s["micro_spotted"] == 2 and s["micro_spotted_ccf"] == 0
    assert all(s[f"{k}_{m}{x}"] is None for k in ("micro", "macro", "overall")
               for m in MEASURES for x in ("", "_ccf"))
