"""Decision-level fusion by weighted voting (MMME 4.2.2, eq. 7-10).

Classifier i votes for its predicted class; the vote counts with weight p_ij, the
classifier's recognition accuracy on class j (eq. 7-8: the fraction of class-j samples it
classifies as j, i.e. its per-class recall, as plotted in MMME Fig. 9). The fused class is
argmax_j sum_i p_ij [pred_i == j] (eq. 9-10).

The weights must come from data the fused sample was not part of: the caller estimates
them on the training folds only (analysis/recognition.py uses inner cross-validation on
the training subjects). Two rules the paper leaves open:

* class absent from the weight data: p_ij = classifier i's overall accuracy on that data
  (its best available estimate of how far to trust it);
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


def per_class_accuracy(
    y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[Any]
) -> tuple[np.ndarray, float]:
    """(p_j for each class, overall accuracy); p_j of a class absent from y_true = overall."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    overall = float(np.mean(t == p)) if len(t) else 0.0
    out = np.full(len(classes), overall)
    for j, label in enumerate(classes):
        members = t == label
        if members.any():
            out[j] = float(np.mean(p[members] == label))
    return out, overall


def fit_weights(
    y_true: Sequence[Any], predictions: Sequence[Sequence[Any]], classes: Sequence[Any]
) -> FusionWeights:
    """Weights from each classifier's predictions of the same (training) samples."""
    rows = [per_class_accuracy(y_true, pred, classes) for pred in predictions]
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
