"""The expression vocabulary: the seven emotions, their prototypical AUs, the micro/macro rule."""

from __future__ import annotations

# MMME's seven emotion categories, in the paper's order.
EMOTIONS = ("happiness", "surprise", "sadness", "fear", "anger", "disgust", "contempt")
KINDS = ("micro", "macro")

# Prototypical AUs per emotion (EMFACS-style). Contempt is unilateral R12/R14: rendered as
# AU14 on the subject's right side only.
EMOTION_AUS: dict[str, tuple[int, ...]] = {
    "happiness": (6, 12),
    "surprise": (1, 2, 5, 26),
    "sadness": (1, 4, 15),
    "fear": (1, 2, 4, 5, 20),
    "anger": (4, 5, 7, 23),
    "disgust": (9, 10),
    "contempt": (14,),
}

MICRO_MAX_DURATION_S = 0.5  # onset -> offset (MMME 3.4, CASME)
MICRO_MAX_RISE_S = 0.25  # onset -> apex


def classify_kind(onset: float, apex: float | None, offset: float | None) -> str | None:
    """'micro' if onset->offset <= 0.5 s or onset->apex <= 0.25 s, else 'macro' (seconds).

    Either criterion suffices (MMME 3.4, CASME). None when neither apex nor offset is known.
    """
    if offset is None and apex is None:
        return None
    eps = 1e-9  # durations from frame counts land exactly on the limits (e.g. 75 / 150 fps)
    if offset is not None and offset - onset <= MICRO_MAX_DURATION_S + eps:
        return "micro"
    if apex is not None and apex - onset <= MICRO_MAX_RISE_S + eps:
        return "micro"
    return "macro"


def classify_frames(onset: int, apex: int | None, offset: int | None, fps: float) -> str | None:
    """classify_kind on frame numbers: elapsed time between frames = difference / fps."""
    return classify_kind(
        0.0,
        None if apex is None else (apex - onset) / fps,
        None if offset is None else (offset - onset) / fps,
    )
