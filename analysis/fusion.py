"""Decision-level fusion by weighted voting (MMME 4.2.2, eq. 7-10).

Classifier i votes for its predicted class; the vote counts with weight p_ij, how well the
classifier recognises class j, and the fused class is argmax_j sum_i p_ij [pred_i == j]
(eq. 9-10). Two measures of p_ij:

* 'recall' (the paper's, eq. 7-8 and Fig. 9; the default): the fraction of class-j samples
  it classifies as j. A classifier that always answers the majority class gets p = 1 for
  that class, so several near-chance classifiers outvote a good one whenever they agree.
* 'youden': recall of class j minus the classifier's false-alarm rate for j (the fraction
  of other samples it calls j), floored at 0: Youden's J of the one-vs-rest decision.
  Chance-level votes (a constant or random answer) weigh 0 and a perfect classifier 1, so
  modalities that carry no emotion information cannot drown the ones that do.

The weights must come from data the fused sample was not part of: the caller estimates
them on the training folds only (analysis/recognition.py uses inner cross-validation on
the training subjects). Two rules the paper leaves open:

* class absent from the weight data: p_ij = the classifier's mean weight over the classes
  present, weighted by their frequency (for 'recall' that is its overall accuracy);
* ties in the fused score: the tied class voted for by the most accurate classifier
  (highest overall accuracy; equal accuracies: the earlier classifier) wins. When no
  classifier has any weight for its vote (every score 0), all classes tie and the most
  accurate classifier's own prediction is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FusionWeights:
    """Per-class accuracies p[i, j] of each classifier, and its overall accuracy."""

    classes: tuple[Any, ...]
    p: np.ndarray  # (n_classifiers, n_classes)
    overall: np.ndarray  # (n_classifiers,)


WEIGHTINGS = ("youden", "recall")


def per_class_weights(
    y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[Any], weighting: str = "recall"
) -> tuple[np.ndarray, float]:
    """(p_j for each class, overall accuracy) by `weighting`; absent classes as documented."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, not {weighting!r}")
    t, p = np.asarray(y_true), np.asarray(y_pred)
    overall = float(np.mean(t == p)) if len(t) else 0.0
    out = np.full(len(classes), np.nan)
    counts = np.zeros(len(classes))
    for j, label in enumerate(classes):
        members = t == label
        counts[j] = members.sum()
        if not members.any():
            continue
        out[j] = float(np.mean(p[members] == label))
        if weighting == "youden":
            others = ~members
            false_alarm = float(np.mean(p[others] == label)) if others.any() else 0.0
            out[j] = max(0.0, out[j] - false_alarm)
    present = counts > 0
    fallback = float(np.average(out[present], weights=counts[present])) if present.any() else 0.0
    return np.where(present, out, fallback), overall


def fit_weights(
    y_true: Sequence[Any],
    predictions: Sequence[Sequence[Any]],
    classes: Sequence[Any],
    weighting: str = "recall",
) -> FusionWeights:
    """Weights from each classifier's predictions of the same (training) samples."""
    rows = [per_class_weights(y_true, pred, classes, weighting) for pred in predictions]
    return FusionWeights(
        tuple(classes), np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    )


def vote_scores(weights: FusionWeights, predictions: Sequence[Sequence[Any]]) -> np.ndarray:
    """Fused score of every class per sample (n_samples, n_classes), eq. 9."""
    preds = [np.asarray(pred) for pred in predictions]
    if len(preds) != len(weights.p):
        raise ValueError(f"{len(preds)} classifiers' predictions but weights for {len(weights.p)}")
    n = len(preds[0]) if preds else 0
    scores = np.zeros((n, len(weights.classes)))
    for i, pred in enumerate(preds):
        for j, label in enumerate(weights.classes):
            scores[pred == label, j] += weights.p[i, j]
    return scores


def weighted_vote(weights: FusionWeights, predictions: Sequence[Sequence[Any]]) -> np.ndarray:
    """Fused class per sample: argmax_j sum_i p_ij [pred_i == j], ties as documented above."""
    if not len(predictions):
        raise ValueError("no classifiers to fuse")
    scores = vote_scores(weights, predictions)
    preds = [np.asarray(pred) for pred in predictions]
    # Stable sort: equal accuracies keep the classifiers' given order.
    trust = np.argsort(-weights.overall, kind="stable")
    out = np.empty(len(scores), dtype=object)
    for k, row in enumerate(scores):
        best = np.flatnonzero(np.isclose(row, row.max(), rtol=0.0, atol=1e-12))
        if len(best) == 1:
            out[k] = weights.classes[best[0]]
            continue
        tied = {weights.classes[j] for j in best}
        out[k] = next((preds[i][k] for i in trust if preds[i][k] in tied), weights.classes[best[0]])
    return np.asarray(out.tolist())
