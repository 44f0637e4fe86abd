"""Recognition metrics of MEGC 2019 / MMME 4.2: Acc, F1, UF1, UAR, confusion matrix.

All metrics take the predictions pooled over every LOSO fold (never a mean over folds).

* Acc: fraction of samples classified correctly.
* F1: macro F1 as scikit-learn computes it (`f1_score(average='macro')`): mean per-class F1
  over every class that occurs in the ground truth or the predictions (a class predicted but
  absent from the ground truth contributes F1 = 0).
* UF1: mean per-class F1 over the classes present in the ground truth (MEGC).
* UAR: mean per-class recall over the classes present in the ground truth (MEGC).

Per-class F1 = 2 TP / (2 TP + FP + FN), 0 when the class has no TP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RecognitionScores:
    """Acc, F1, UF1, UAR and the confusion matrix (rows truth, columns prediction)."""

    acc: float
    f1: float
    uf1: float
    uar: float
    confusion: np.ndarray
    labels: tuple[Any, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain dict: acc, f1, uf1, uar, confusion (ndarray), labels."""
        return {
            "acc": self.acc,
            "f1": self.f1,
            "uf1": self.uf1,
            "uar": self.uar,
            "confusion": self.confusion,
            "labels": self.labels,
        }


def _labels(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[Any] | None
) -> tuple[Any, ...]:
    if labels is not None:
        return tuple(labels)
    return tuple(sorted(set(y_true.tolist()) | set(y_pred.tolist())))


def confusion_matrix(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> np.ndarray:
    """Counts C[i, j] of samples of class labels[i] predicted as labels[j]."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{t.shape[0]} true labels but {p.shape[0]} predictions")
    order = _labels(t, p, labels)
    index = {label: k for k, label in enumerate(order)}
    matrix = np.zeros((len(order), len(order)), dtype=np.int64)
    for truth, pred in zip(t.tolist(), p.tolist(), strict=True):
        if truth in index and pred in index:  # like sklearn: samples outside labels ignored
            matrix[index[truth], index[pred]] += 1
    return matrix


def per_class_f1(matrix: np.ndarray) -> np.ndarray:
    """F1 of each class from a confusion matrix: 2TP / (2TP + FP + FN), 0 when undefined."""
    tp = np.diag(matrix).astype(float)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)  # = 2TP + FP + FN
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def per_class_recall(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class (TP / class size); NaN for a class absent from the truth."""
    support = matrix.sum(axis=1).astype(float)
    return np.divide(np.diag(matrix), support, out=np.full(len(support), np.nan), where=support > 0)


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Fraction of correct predictions."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(t == p)) if len(t) else float("nan")


def macro_f1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """scikit-learn's macro F1: mean over classes seen in truth or predictions."""
    return float(np.mean(per_class_f1(confusion_matrix(y_true, y_pred))))


def unweighted_f1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """UF1: mean per-class F1 over the classes present in the ground truth."""
    matrix = confusion_matrix(y_true, y_pred)
    present = matrix.sum(axis=1) > 0
    return float(np.mean(per_class_f1(matrix)[present]))


def unweighted_average_recall(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """UAR: mean per-class recall over the classes present in the ground truth."""
    return float(np.nanmean(per_class_recall(confusion_matrix(y_true, y_pred))))


def score(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> RecognitionScores:
    """All metrics of pooled predictions; `labels` only fixes the confusion matrix's order."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    order = _labels(t, p, labels)
    missing = (set(t.tolist()) | set(p.tolist())) - set(order)
    if missing:
        raise ValueError(f"labels {sorted(map(str, missing))} not in the given label list")
    return RecognitionScores(
        acc=accuracy(t, p),
        f1=macro_f1(t, p),
        uf1=unweighted_f1(t, p),
        uar=unweighted_average_recall(t, p),
        confusion=confusion_matrix(t, p, order),
        labels=order,
    )
