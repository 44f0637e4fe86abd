"""Weighted-voting fusion (MMME eq. 7-10) and the leave-one-subject-out runner."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.fusion import fit_weights, per_class_weights, vote_scores, weighted_vote
from analysis.metrics import score
from analysis.recognition import (
    FUSED,
    SEVEN_CLASSES,
    THREE_CLASSES,
    make_classifier,
    recognize,
    run_loso,
    task_labels,
)

CLASSES = ("n", "p", "s")
# Training-fold predictions of three classifiers on the same 8 samples.
TRAIN_Y = ["n", "n", "n", "n", "p", "p", "s", "s"]
TRAIN_PRED = [
    ["n", "n", "n", "p", "p", "p", "s", "n"],  # recall n 3/4, p 2/2, s 1/2; overall 6/8
    ["n", "p", "p", "p", "p", "n", "s", "s"],  # recall n 1/4, p 1/2, s 2/2; overall 4/8
    ["n"] * 8,  # recall n 1, p 0, s 0; overall 4/8
]


def test_recall_weights_and_absent_class_rule():
    p, overall = per_class_weights(["n", "n", "p"], ["n", "p", "p"], CLASSES, "recall")
    assert overall == pytest.approx(2 / 3)
    assert p.tolist() == pytest.approx([0.5, 1.0, 2 / 3])  # 's' absent: overall accuracy


def test_youden_weights_and_absent_class_rule():
    # n: recall 1/2, false alarms 0/1 -> 0.5; p: recall 1, false alarms 1/2 -> 0.5;
    # 's' absent: the frequency-weighted mean of the others (2 * 0.5 + 1 * 0.5) / 3.
    p, overall = per_class_weights(["n", "n", "p"], ["n", "p", "p"], CLASSES, "youden")
    assert overall == pytest.approx(2 / 3)
    assert p.tolist() == pytest.approx([0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="weighting must be one of"):
        per_class_weights(["n"], ["n"], CLASSES, "precision")


def test_youden_weights_worked_example():
    w = fit_weights(TRAIN_Y, TRAIN_PRED, CLASSES, "youden")
    # Classifier 1: n 3/4 - 1/4 (one 's' called n), p 2/2 - 1/6, s 1/2 - 0/6.
    # Classifier 2: n 1/4 - 1/4, p 1/2 - 3/6, s 2/2 - 0/6.
    # Classifier 3 always says n: recall 1 but every other sample is a false alarm -> 0.
    np.testing.assert_allclose(w.p, [[0.5, 5 / 6, 0.5], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    test_preds = [["p", "s", "n", "s"], ["s", "s", "p", "n"], ["n", "n", "p", "p"]]
    np.testing.assert_allclose(
        vote_scores(w, test_preds),
        [[0.0, 5 / 6, 1.0], [0.0, 0.0, 1.5], [0.5, 0.0, 0.0], [0.0, 0.0, 0.5]],
    )
    # Under 'recall' the constant classifier made sample 1 a three-way tie; here it has no
    # say and classifier 2's reliable 's' wins.
    assert weighted_vote(w, test_preds).tolist() == ["s", "s", "n", "s"]


def test_weights_from_training_predictions():
    w = fit_weights(TRAIN_Y, TRAIN_PRED, CLASSES, "recall")
    assert w.p.tolist() == [[0.75, 1.0, 0.5], [0.25, 0.5, 1.0], [1.0, 0.0, 0.0]]
    assert w.overall.tolist() == [0.75, 0.5, 0.5]


def test_weighted_vote_worked_example():
    w = fit_weights(TRAIN_Y, TRAIN_PRED, CLASSES, "recall")
    test_preds = [
        ["p", "s", "n", "s"],  # classifier 1
        ["s", "s", "p", "n"],  # classifier 2
        ["n", "n", "p", "p"],  # classifier 3
    ]
    scores = vote_scores(w, test_preds)
    assert scores.tolist() == [
        [1.0, 1.0, 1.0],  # three-way tie -> the most accurate classifier (1) votes 'p'
        [1.0, 0.0, 1.5],  # s: 0.5 + 1.0
        [0.75, 0.5, 0.0],  # 'n' wins against the majority 'p' (weights 0.5 + 0)
        [0.25, 0.0, 0.5],
    ]
    assert weighted_vote(w, test_preds).tolist() == ["p", "s", "n", "s"]


def test_ties_between_equally_trusted_classifiers_go_to_the_earlier():
    w = fit_weights(["n", "p"], [["n", "n"], ["p", "p"]], ("n", "p"), "recall")  # 1 of 2 right
    assert w.p.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert weighted_vote(w, [["n"], ["p"]]).tolist() == ["n"]
    assert weighted_vote(w, [["p"], ["n"]]).tolist() == ["p"]  # all scores 0: first's vote


# --- LOSO ------------------------------------------------------------------------------------


def synthetic(seed=0, subjects=8, per_subject=24):
    """Each modality separates one class (3 sd) and confuses the other two."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.array(["negative", "positive", "surprise"]), subjects * per_subject // 3)
    groups = np.repeat(np.arange(subjects), per_subject)
    features = {}
    for modality, cls in (("ME", "positive"), ("EEG", "surprise"), ("PERI", "negative")):
        x = rng.normal(size=(len(y), 4))
        x[:, 0] += 3.0 * (y == cls)
        features[modality] = x
    return features, y, groups


@pytest.mark.slow
def test_fusion_beats_every_single_modality():
    features, y, groups = synthetic()
    result = run_loso(features, y, groups)
    single = {m: result.scores[m].acc for m in features}
    fused = result.scores[FUSED]
    # Each modality alone: its class right, the other two a coin flip (about 2/3).
    assert all(0.55 < acc < 0.75 for acc in single.values()), single
    assert fused.acc >= max(single.values()) + 0.15
    assert fused.uf1 >= max(result.scores[m].uf1 for m in features)
    assert fused.uar >= max(result.scores[m].uar for m in features)
    assert fused.labels == ("negative", "positive", "surprise")
    assert fused.confusion.sum() == len(y) and len(result.predictions[FUSED]) == len(y)
    d = result.as_dict()
    assert set(d) == {"ME", "EEG", "PERI", FUSED}
    assert set(d[FUSED]) >= {"acc", "f1", "uf1", "uar", "confusion"}
    # Weights mirror what each modality is good at (inner CV on training subjects).
    w = result.fold_weights[0]
    assert w.p[0, 1] > 0.85 and w.p[1, 2] > 0.85 and w.p[2, 0] > 0.85
    # Youden's J: high for its own class, low for the two it confuses (recall ~0.5 there).
    youden = run_loso(features, y, groups, weighting="youden")
    j = youden.fold_weights[0].p
    assert j[0, 1] > 0.7 and j[1, 2] > 0.7 and j[2, 0] > 0.7
    assert j[0, 0] < 0.4 and j[1, 1] < 0.4 and j[2, 2] < 0.4
    assert youden.scores[FUSED].acc >= max(single.values()) + 0.15


@pytest.mark.slow
def test_only_the_named_voters_are_fused():
    features, y, groups = synthetic()
    features["NOISE"] = np.random.default_rng(5).normal(size=(len(y), 4))
    pair = run_loso(features, y, groups, voters=("ME", "EEG"))
    assert pair.voters == ("ME", "EEG") and pair.fold_weights[0].p.shape == (2, 3)
    assert set(pair.scores) == {"ME", "EEG", "PERI", "NOISE", FUSED}  # all still scored
    # ME knows 'positive', EEG 'surprise': fused, 'negative' is what neither claims well.
    every = run_loso(features, y, groups)
    assert every.voters == ("ME", "EEG", "PERI", "NOISE")
    assert every.scores[FUSED].acc > pair.scores[FUSED].acc  # PERI's 'negative' helps
    with pytest.raises(ValueError, match="voters"):
        run_loso(features, y, groups, voters=("ME", "FACE"))


@pytest.mark.slow
def test_fusion_weights_never_see_the_test_subject():
    features, y, groups = synthetic()
    changed = {m: x.copy() for m, x in features.items()}
    for x in changed.values():
        x[groups == 3] = np.random.default_rng(9).normal(size=(int(np.sum(groups == 3)), 4))
    a = run_loso(features, y, groups)
    b = run_loso(changed, y, groups)
    np.testing.assert_array_equal(a.fold_weights[3].p, b.fold_weights[3].p)
    assert not np.array_equal(a.fold_weights[0].p, b.fold_weights[0].p)  # 3 trains fold 0


def test_task_labels_mapping():
    emotions = ["happiness", "Surprise", "sadness", "fear", "anger", "disgust", "contempt",
                "others"]
    y3, mask3 = task_labels(emotions, "3class")
    assert y3.tolist() == ["positive", "surprise"] + ["negative"] * 5
    assert mask3.tolist() == [True] * 7 + [False]
    y7, mask7 = task_labels(emotions, "7class")
    assert mask7.tolist() == mask3.tolist()
    assert y7.tolist() == ["happiness", "surprise", "sadness", "fear", "anger", "disgust",
                           "contempt"]
    with pytest.raises(ValueError):
        task_labels(emotions, "2class")


def test_recognize_seven_class_drops_others_and_handles_one_class_folds():
    rng = np.random.default_rng(1)
    emotions = np.array(["happiness", "disgust", "fear", "others"] * 12)
    subjects = np.repeat(np.arange(4), 12)
    subjects[emotions == "fear"] = 9  # fear only in one subject: its fold never trains fear
    x = rng.normal(size=(len(emotions), 3))
    x[:, 0] += 4 * (emotions == "happiness")
    result = recognize(
        {"ME": x}, emotions, subjects, task="7class", classifier="svm_rbf", weighting="recall"
    )
    assert len(result.y_true) == 36
    me = result.scores["ME"]
    # Every class of the task, in the paper's order, absent ones included.
    assert me.labels == SEVEN_CLASSES and me.confusion.shape == (7, 7)
    assert dict(zip(me.labels, me.support, strict=True)) == {
        "happiness": 12, "surprise": 0, "sadness": 0, "fear": 12, "anger": 0, "disgust": 12,
        "contempt": 0}
    absent = [i for i, n in enumerate(me.support) if n == 0]
    assert not me.confusion[absent].any()
    assert [me.recall[i] for i in absent] == [None] * 4  # n/a, not 0
    assert [me.class_f1[i] for i in absent] == [None] * 4
    happy = me.labels.index("happiness")
    assert me.confusion[happy, happy] >= 10  # happiness is easy
    assert me.recall[happy] == me.confusion[happy, happy] / 12
    assert me.chance["uniform"] == pytest.approx(1 / 3)  # three classes in the truth
    fear = me.labels.index("fear")
    assert result.fold_weights[9].p[0, fear] == result.fold_weights[9].overall[0]  # absent


def test_a_degenerate_classifier_shows_its_accuracy_beside_the_majority_chance_level():
    # 8 negative and 3 positive samples, every one predicted negative (the case).
    truth = ["negative"] * 8 + ["positive"] * 3
    s = score(truth, ["negative"] * 11, THREE_CLASSES)
    assert s.acc == pytest.approx(8 / 11)
    assert s.chance == {"majority_class": "negative", "majority_acc": pytest.approx(8 / 11),
                        "majority_uf1": pytest.approx((2 * (8 / 11) / (1 + 8 / 11)) / 2),
                        "uniform": 0.5}
    assert s.acc == s.chance["majority_acc"] and s.uf1 == pytest.approx(
        s.chance["majority_uf1"]) and s.uar == 0.5
    assert s.support == (8, 3, 0) and s.confusion.tolist() == [[8, 0, 0], [3, 0, 0], [0, 0, 0]]
    assert s.recall == (1.0, 0.0, None) and s.class_f1[2] is None


def test_classifier_choices_and_input_checks():
    x = np.array([[0.0], [0.1], [np.nan], [1.0], [1.1], [0.9]])  # NaN: mean-imputed
    y = np.array(["a", "a", "a", "b", "b", "b"])
    for kind in ("svm_linear", "svm_rbf", "logreg"):
        assert make_classifier(kind).fit(x, y).predict([[0.05], [1.05]]).tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="classifier must be"):
        make_classifier("forest")
    with pytest.raises(ValueError, match="n_samples"):
        run_loso({"ME": np.zeros((3, 2))}, ["a", "b"], [1, 2])
