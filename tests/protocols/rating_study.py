"""A simulated rating study: candidate clips with known truth, raters with noise, real files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.expressions import EMOTIONS
from protocols.rating import rating_order
from protocols.ratings_file import Rating, RatingsHeader, RatingsWriter


@dataclass(frozen=True)
class TrueClip:
    """What a clip really elicits: valence, arousal and how many raters name its emotion."""

    id: str
    emotion: str
    valence: float
    arousal: float
    hits: int  # raters (of those answering) who choose the intended emotion
    duration: float = 4.0
    answers: int | None = None  # raters who answer (None: all)


def write_library(folder: Path, clips: list[TrueClip], files: dict[str, str],
                  neutral: tuple[str, float] | None = None) -> Path:
    """A candidate manifest (no ratings); files maps emotion -> clip file for every clip."""
    lines = ["[library]", 'name = "candidates"', ""]
    for clip in clips:
        lines += ["[[clip]]", f'id = "{clip.id}"', f'file = "{files[clip.emotion]}"',
                  f'emotion = "{clip.emotion}"', f"duration = {clip.duration}", ""]
    if neutral is not None:
        lines += ["[[clip]]", 'id = "neutral01"', f'file = "{neutral[0]}"',
                  'emotion = "neutral"', f"duration = {neutral[1]}", ""]
    path = folder / "candidates.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def simulate_ratings(folder: Path, clips: list[TrueClip], raters: int, *, noise: float = 1.0,
                     seed: int = 0) -> list[Path]:
    """One ratings file per rater: the truth plus each rater's bias and noise, 1..9 integers."""
    rng = np.random.default_rng(seed)
    paths = []
    for r in range(raters):
        rater = f"R{r + 1:02d}"
        bias = rng.normal(0, 0.5, 2)
        order = rating_order([c.id for c in clips], 1000 + r)
        writer = RatingsWriter(folder / f"ratings_{rater}.csv",
                               RatingsHeader(rater, 1000 + r, order))
        for position, clip_id in enumerate(order, start=1):
            clip = next(c for c in clips if c.id == clip_id)
            if clip.answers is not None and r >= clip.answers:
                writer.add(Rating(rater, position, clip_id, "timeout"))
                continue
            others = [e for e in EMOTIONS if e != clip.emotion]
            emotion = clip.emotion if r < clip.hits else others[r % len(others)]
            valence, arousal = (int(np.clip(np.rint(v + b + rng.normal(0, noise)), 1, 9))
                                for v, b in ((clip.valence, bias[0]), (clip.arousal, bias[1])))
            writer.add(Rating(rater, position, clip_id, "answered", emotion, valence, arousal,
                              1.5))
        paths.append(writer.path)
    return paths
