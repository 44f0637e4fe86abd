"""Recognition metrics of MEGC 2019 / MMME 4.2: Acc, F1, UF1, UAR, confusion matrix.

All metrics take the predictions pooled over every LOSO fold (never a mean over folds).

* Acc: fraction of samples classified correctly.
* F1: macro F1 as scikit-learn computes it (`f1_score(average='macro')`): mean per-class F1
  over every class that occurs in the ground truth or the predictions (a class predicted but
  absent from the ground truth contributes F1 = 0).
* UF1: mean per-class F1 over the classes present in the ground truth (MEGC).
* UAR: mean per-class recall over the classes present in the ground truth (MEGC).

Per-class F1 = 2 TP / (2 TP + FP + FN), 0 when the class has no TP. scikit-learn computes
them; this module fixes which classes each metric averages over.

Beside the scores, what they must be read against: the class counts of the truth (`support`,
over every label of the task, 0 for a class without instances), per-class recall and F1
(None, "n/a", for a class the truth lacks), and the chance levels (`chance`):
* majority: always answering the most frequent true class. Its Acc is that class's share p,
  its UAR 1/k and its UF1 (2p / (1 + p)) / k, with k the classes present in the truth;
* uniform: guessing among the k classes at random, expected Acc and UAR 1/k.
A classifier that predicts one class for every sample shows Acc = the majority level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm


@dataclass(frozen=True)
class RecognitionScores:
    """Acc, F1, UF1, UAR and the confusion matrix (rows truth, columns prediction)."""

    acc: float
    f1: float
    uf1: float
    uar: float
    confusion: np.ndarray
    labels: tuple[Any, ...]
    support: tuple[int, ...] = ()  # true samples per label
    recall: tuple[float | None, ...] = ()  # per label; None where the truth has none
    class_f1: tuple[float | None, ...] = ()
    chance: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict: acc, f1, uf1, uar, confusion (ndarray), labels, support, per-class
        recall and F1 (None = n/a), chance levels."""
        return {
            "acc": self.acc,
            "f1": self.f1,
            "uf1": self.uf1,
            "uar": self.uar,
            "confusion": self.confusion,
            "labels": self.labels,
            "support": self.support,
            "recall": self.recall,
            "class_f1": self.class_f1,
            "chance": self.chance,
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
    return skm.confusion_matrix(t, p, labels=list(_labels(t, p, labels)))


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Fraction of correct predictions."""
    return float(skm.accuracy_score(y_true, y_pred)) if len(y_true) else float("nan")


def macro_f1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """scikit-learn's macro F1: mean over classes seen in truth or predictions."""
    return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))


def unweighted_f1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """UF1: mean per-class F1 over the classes present in the ground truth."""
    present = np.unique(np.asarray(y_true))
    return float(skm.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def unweighted_average_recall(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """UAR: mean per-class recall over the classes present in the ground truth."""
    present = np.unique(np.asarray(y_true))
    return float(
        skm.recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def score(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> RecognitionScores:
    """All metrics of pooled predictions; `labels` only fixes the confusion matrix's order."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    order = _labels(t, p, labels)
    missing = (set(t.tolist()) | set(p.tolist())) - set(order)
    if missing:
        raise ValueError(f"labels {sorted(map(str, missing))} not in the given label list")
    confusion = confusion_matrix(t, p, order)
    support = confusion.sum(axis=1)
    f1s = skm.f1_score(t, p, labels=list(order), average=None, zero_division=0)
    return RecognitionScores(
        acc=accuracy(t, p),
        f1=macro_f1(t, p),
        uf1=unweighted_f1(t, p),
        uar=unweighted_average_recall(t, p),
        confusion=confusion,
        labels=order,
        support=tuple(int(n) for n in support),
        recall=tuple(float(confusion[i, i] / n) if n else None for i, n in enumerate(support)),
        class_f1=tuple(float(f) if n else None for f, n in zip(f1s, support, strict=True)),
        chance=chance_levels(t),
    )


def chance_levels(y_true: Sequence[Any]) -> dict[str, Any]:
    """Majority-class and uniform-guess levels of the truth (module docstring)."""
    values, counts = np.unique(np.asarray(y_true), return_counts=True)
    if not len(values):
        return {"majority_class": None, "majority_acc": None, "majority_uf1": None,
                "uniform": None}
    k = len(values)
    share = float(counts.max() / counts.sum())
    return {
        "majority_class": values[int(np.argmax(counts))].item(),
        "majority_acc": share,
        "majority_uf1": 2 * share / (1 + share) / k,
        "uniform": 1.0 / k,
    }
