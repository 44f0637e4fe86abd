"""Leave-one-subject-out recognition per modality plus weighted-voting fusion (MMME 4.2).

One classifier per modality (scikit-learn pipeline: mean imputation, standardization, then
an SVM or logistic regression), trained on all subjects but one and tested on the held-out
subject; predictions are pooled over folds before scoring (analysis/metrics.py).

Fusion weights p_ij (analysis/fusion.py) are estimated per outer fold from the training
subjects only: an inner grouped cross-validation over the training subjects yields
out-of-sample predictions of every training sample, from which each modality's per-class
accuracy is measured. Training-set accuracy would be optimistic (an RBF SVM nearly
memorizes its training set) and the paper's test-fold accuracies would leak the test
subject into its own fusion weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from analysis.fusion import FusionWeights, fit_weights, weighted_vote
from analysis.metrics import RecognitionScores, score
from core.expressions import EMOTIONS

SEVEN_CLASSES = EMOTIONS  # MMME's seven, in the paper's order
THREE_CLASSES = ("negative", "positive", "surprise")
# MMME 3.5: the five negative-valence emotions form 'negative'.
TO_THREE_CLASS = {
    "happiness": "positive",
    "surprise": "surprise",
    "sadness": "negative",
    "fear": "negative",
    "anger": "negative",
    "disgust": "negative",
    "contempt": "negative",
}
assert set(TO_THREE_CLASS) == set(EMOTIONS)  # every emotion has exactly one 3-class label
CLASSIFIERS = ("logreg", "svm_linear", "svm_rbf")
DEFAULT_CLASSIFIER = "logreg"
FUSED = "fused"
# Runs a function over the folds (held-out subjects), results in order: map-like.
MapFolds = Callable[[Callable[[Any], Any], Sequence[Any]], Sequence[Any]]


def make_classifier(kind: str = DEFAULT_CLASSIFIER) -> Pipeline:
    """Impute (feature extraction may yield NaN) -> standardize -> classifier `kind`.

    class_weight='balanced' because ME classes are strongly imbalanced and the MEGC
    metrics (UF1, UAR) weigh every class equally.
    """
    if kind == "svm_linear":
        model: ClassifierMixin = SVC(kernel="linear", C=1.0, class_weight="balanced")
    elif kind == "svm_rbf":
        model = SVC(kernel="rbf", C=1.0, gamma="scale", class_weight="balanced")
    elif kind == "logreg":
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    else:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, not {kind!r}")
    return make_pipeline(
        SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(), model
    )


def task_labels(emotions: Sequence[str], task: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, mask) for task '3class' or '7class'; mask drops other labels ('others' ...)."""
    e = np.asarray([str(x).strip().lower() for x in emotions])
    if task == "7class":
        mask = np.isin(e, SEVEN_CLASSES)
        return e[mask], mask
    if task == "3class":
        mask = np.isin(e, list(TO_THREE_CLASS))
        return np.asarray([TO_THREE_CLASS[x] for x in e[mask]]), mask
    raise ValueError(f"task must be '3class' or '7class', not {task!r}")


@dataclass
class LosoResult:
    """Pooled predictions and scores per modality and for the fusion ('fused')."""

    y_true: np.ndarray
    subjects: np.ndarray
    predictions: dict[str, np.ndarray]
    scores: dict[str, RecognitionScores]
    fold_weights: dict[Any, FusionWeights] = field(default_factory=dict)  # by test subject
    voters: tuple[str, ...] = ()  # the modalities fused, in the order of the weights' rows

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """{modality or 'fused': {acc, f1, uf1, uar, confusion, labels}}."""
        return {name: s.as_dict() for name, s in self.scores.items()}


def _fit_predict(
    make: Callable[[], Pipeline], x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray
) -> np.ndarray:
    """Train and predict; a training set of a single class predicts that class."""
    classes = np.unique(y_train)
    if len(classes) == 1:  # SVC refuses one class; a small LOSO fold can have only one
        return np.full(len(x_test), classes[0], dtype=y_train.dtype)
    return make().fit(x_train, y_train).predict(x_test)


def _inner_predictions(
    make: Callable[[], Pipeline], x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int
) -> np.ndarray:
    """Out-of-sample predictions of every training sample by grouped CV over subjects."""
    n_groups = len(np.unique(groups))
    if n_groups < 2:  # nothing to hold out: fall back to training-set predictions
        return _fit_predict(make, x, y, x)
    out = np.empty(len(y), dtype=y.dtype)
    for tr, te in GroupKFold(n_splits=min(folds, n_groups)).split(x, y, groups):
        out[te] = _fit_predict(make, x[tr], y[tr], x[te])
    return out


def _fold(subject: Any, *, xs: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray,
          kinds: dict[str, str], voting: tuple[str, ...], order: tuple, weighting: str,
          inner_folds: int) -> tuple[dict[str, np.ndarray], FusionWeights, np.ndarray]:
    """One leave-one-subject-out fold: each modality's predictions of the held-out subject,
    the fusion weights from the training subjects and the fused votes."""
    makers = {m: partial(make_classifier, kinds[m]) for m in xs}
    test = groups == subject
    train = ~test
    fold = {m: _fit_predict(makers[m], x[train], y[train], x[test]) for m, x in xs.items()}
    inner = [
        _inner_predictions(makers[m], xs[m][train], y[train], groups[train], inner_folds)
        for m in voting
    ]
    weights = fit_weights(y[train], inner, order, weighting)
    return fold, weights, weighted_vote(weights, [fold[m] for m in voting])


def _serial(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return [fn(item) for item in items]


def run_loso(
    features: Mapping[str, np.ndarray],
    labels: Sequence[Any],
    subjects: Sequence[Any],
    *,
    classifier: str | Mapping[str, str] = DEFAULT_CLASSIFIER,
    inner_folds: int = 5,
    classes: Sequence[Any] | None = None,
    weighting: str = "recall",
    voters: Sequence[str] | None = None,
    map_folds: MapFolds | None = None,
) -> LosoResult:
    """LOSO per modality, fused by weighted voting; scores of pooled predictions.

    features maps a modality name to its (n_samples, d) matrix, rows aligned with labels and
    subjects. classifier is one kind for all modalities or a kind per modality; weighting
    is how fusion weights votes (analysis/fusion.py: 'youden' or the paper's 'recall');
    voters are the modalities whose votes are fused (default: all of them); map_folds runs
    the folds (e.g. on a Dask cluster: analysis/scheduler.py), by default one after another.
    """
    if not features:
        raise ValueError("no modalities given")
    if FUSED in features:
        raise ValueError(f"{FUSED!r} is reserved for the fusion result")
    y = np.asarray(labels)
    groups = np.asarray(subjects)
    xs = {m: np.asarray(x, dtype=float) for m, x in features.items()}
    for m, x in xs.items():
        if x.ndim != 2 or len(x) != len(y):
            raise ValueError(f"{m}: features must be (n_samples={len(y)}, d), not {x.shape}")
    if len(groups) != len(y):
        raise ValueError(f"{len(groups)} subject ids for {len(y)} samples")
    order = tuple(classes) if classes is not None else tuple(np.unique(y).tolist())
    voting = tuple(xs) if voters is None else tuple(voters)
    if not voting or set(voting) - set(xs):
        raise ValueError(f"voters {voting} must be some of the modalities {tuple(xs)}")
    kinds = {m: classifier if isinstance(classifier, str) else classifier[m] for m in xs}
    fold = partial(_fold, xs=xs, y=y, groups=groups, kinds=kinds, voting=voting, order=order,
                   weighting=weighting, inner_folds=inner_folds)
    held_out = list(np.unique(groups))
    preds = {m: np.empty(len(y), dtype=y.dtype) for m in xs}
    fused = np.empty(len(y), dtype=y.dtype)
    fold_weights: dict[Any, FusionWeights] = {}
    for subject, (predicted, weights, voted) in zip(
            held_out, (map_folds or _serial)(fold, held_out), strict=True):
        test = groups == subject
        fold_weights[subject.item() if hasattr(subject, "item") else subject] = weights
        fused[test] = voted
        for m in xs:
            preds[m][test] = predicted[m]
    preds[FUSED] = fused
    scores = {name: score(y, p, order) for name, p in preds.items()}
    return LosoResult(y, groups, preds, scores, fold_weights, voting)


def recognize(
    features: Mapping[str, np.ndarray],
    emotions: Sequence[str],
    subjects: Sequence[Any],
    task: str = "3class",
    classifier: str | Mapping[str, str] = DEFAULT_CLASSIFIER,
    inner_folds: int = 5,
    weighting: str = "recall",
    voters: Sequence[str] | None = None,
    map_folds: MapFolds | None = None,
) -> LosoResult:
    """run_loso on the 3-class or 7-class labels of `emotions` (other labels dropped)."""
    y, mask = task_labels(emotions, task)
    # Every class of the task, present or not: the confusion matrix has one row per class.
    classes = THREE_CLASSES if task == "3class" else SEVEN_CLASSES
    return run_loso(
        {m: np.asarray(x)[mask] for m, x in features.items()},
        y,
        np.asarray(subjects)[mask],
        classifier=classifier,
        inner_folds=inner_folds,
        classes=classes,
        weighting=weighting,
        voters=voters,
        map_folds=map_folds,
    )
