"""Normative ratings of a rated library: per clip statistics and per scale reliability.

Per clip: mean and SD of valence and arousal, hit rate, modal emotion, over every answer
given. Per scale (MMME paper 3.2): Cronbach's alpha (eq. 1, raters as items, clips as cases)
and intraclass correlations with 95 % CIs, through pingouin. docs/stimuli.md states the
forms and how missing answers are handled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.expressions import EMOTIONS
from protocols.candidates import Candidates
from protocols.ratings_file import RatingsFile

SCALES = ("valence", "arousal")
# Raters who answered fewer than this share of the clips are left out of the reliability
# (a rater who stopped early would otherwise remove most clips from the complete table).
RELIABILITY_MIN_SHARE = 0.5
# pingouin's names (McGraw & Wong) and the Shrout & Fleiss names the papers use.
ICC_FORMS = (
    ("ICC(C,1)", "ICC(3,1)", "two-way mixed, consistency, single rater (the paper's eq. 2)"),
    ("ICC(A,1)", "ICC(2,1)", "two-way random, absolute agreement, single rater"),
    ("ICC(C,k)", "ICC(3,k)", "two-way mixed, consistency, mean of k raters (= alpha)"),
)


@dataclass(frozen=True)
class ClipNorms:
    """One clip's ratings summarised."""

    clip: str
    emotion: str  # the intended emotion (the library's)
    duration: float
    ratings: int  # raters who answered
    missing: int  # raters with a file but no answer for this clip
    valence_mean: float
    valence_sd: float
    arousal_mean: float
    arousal_sd: float
    hit_rate: float  # share of answers naming the intended emotion
    modal_emotion: str  # most chosen emotion; ties joined by '/'
    modal_share: float


@dataclass(frozen=True)
class Icc:
    """One ICC form with its 95 % confidence interval."""

    form: str  # McGraw & Wong name, e.g. ICC(C,1)
    shrout_fleiss: str  # e.g. ICC(3,1)
    description: str
    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Reliability:
    """Cronbach's alpha and ICCs of one scale over the complete clips x raters table."""

    scale: str
    raters: int  # k, the raters (items) in the table
    clips: int  # n, the clips (cases) in the table
    alpha: float
    alpha_ci: tuple[float, float]
    iccs: tuple[Icc, ...]
    clips_left_out: int  # clips missing an answer of a rater in the table
    raters_left_out: tuple[str, ...]  # answered < RELIABILITY_MIN_SHARE of the clips
    note: str = ""  # why alpha/ICC are NaN, when they are


@dataclass
class RatingStudy:
    """Every rater's answers, the per-clip norms and the reliability of each scale."""

    raters: list[str]
    table: pd.DataFrame  # long: rater, clip, emotion, valence, arousal (NaN: no answer)
    clips: list[ClipNorms]
    reliability: dict[str, Reliability]
    missing_by_rater: dict[str, int] = field(default_factory=dict)

    @property
    def raters_with_missing(self) -> list[str]:
        """Raters who left at least one clip without an answer."""
        return [r for r, n in self.missing_by_rater.items() if n]


def rating_table(files: list[RatingsFile], candidates: Candidates) -> pd.DataFrame:
    """Every rater x rated clip, answers or NaN (not shown, timed out, clip error)."""
    rows = []
    for ratings in files:
        for clip_id in candidates.rated:
            row = ratings.rows.get(clip_id)
            answered = row is not None and row.answered
            rows.append({"rater": ratings.header.rater, "clip": clip_id,
                         "emotion": row.emotion if answered else "",
                         "valence": float(row.valence) if answered else math.nan,
                         "arousal": float(row.arousal) if answered else math.nan})
    return pd.DataFrame(rows, columns=["rater", "clip", "emotion", *SCALES])


def clip_norms(table: pd.DataFrame, candidates: Candidates) -> list[ClipNorms]:
    """Per clip statistics over the answers given (SD with ddof=1; NaN below 2 answers)."""
    norms = []
    for clip_id, clip in candidates.rated.items():
        rows = table[table["clip"] == clip_id]
        given = rows[rows["emotion"] != ""]
        counts = given["emotion"].value_counts()
        top = counts.max() if len(counts) else 0
        modal = [e for e in EMOTIONS if counts.get(e, 0) == top] if top else []
        n = len(given)
        norms.append(ClipNorms(
            clip_id, clip.emotion, clip.duration, n, len(rows) - n,
            *_mean_sd(given["valence"]), *_mean_sd(given["arousal"]),
            hit_rate=float(counts.get(clip.emotion, 0) / n) if n else math.nan,
            modal_emotion="/".join(modal), modal_share=float(top / n) if n else math.nan))
    return norms


def _mean_sd(values: pd.Series) -> tuple[float, float]:
    data = values.to_numpy(dtype=float)
    mean = float(data.mean()) if len(data) else math.nan
    sd = float(data.std(ddof=1)) if len(data) > 1 else math.nan
    return mean, sd


def reliability(table: pd.DataFrame, scale: str) -> Reliability:
    """Alpha and ICCs of a scale; raters answering too little and incomplete clips left out."""
    import pingouin

    wide = table.pivot(index="clip", columns="rater", values=scale)
    share = wide.notna().mean(axis=0)
    sparse = tuple(sorted(str(r) for r in share.index[share < RELIABILITY_MIN_SHARE]))
    wide = wide.drop(columns=list(sparse))
    complete = wide.dropna(axis=0, how="any")
    left_out = len(wide) - len(complete)
    n, k = complete.shape
    if k < 2 or n < 3 or not np.isfinite(complete.to_numpy().var()) or \
            complete.to_numpy().var() == 0:
        note = (f"needs >= 2 raters and >= 3 clips answered by all of them, with some "
                f"variation; the complete table has {k} rater(s) x {n} clip(s)")
        return Reliability(scale, k, n, math.nan, (math.nan, math.nan), (), left_out, sparse,
                           note)
    alpha, ci = pingouin.cronbach_alpha(data=complete)
    long = complete.reset_index().melt(id_vars="clip", var_name="rater", value_name=scale)
    rounding = pingouin.options.get("round.column.CI95")
    pingouin.options["round.column.CI95"] = None  # full precision (pingouin rounds to 2)
    try:
        icc = pingouin.intraclass_corr(data=long, targets="clip", raters="rater",
                                       ratings=scale).set_index("Type")
    finally:
        pingouin.options["round.column.CI95"] = rounding
    iccs = tuple(Icc(form, sf, text, float(icc.at[form, "ICC"]),
                     float(icc.at[form, "CI95"][0]), float(icc.at[form, "CI95"][1]))
                 for form, sf, text in ICC_FORMS)
    return Reliability(scale, k, n, float(alpha), (float(ci[0]), float(ci[1])), iccs,
                       left_out, sparse)


def study(files: list[RatingsFile], candidates: Candidates) -> RatingStudy:
    """Norms and reliability of a rated library."""
    table = rating_table(files, candidates)
    missing = table.groupby("rater", sort=False)["valence"].apply(lambda v: int(v.isna().sum()))
    return RatingStudy(
        raters=[f.header.rater for f in files], table=table,
        clips=clip_norms(table, candidates),
        reliability={s: reliability(table, s) for s in SCALES},
        missing_by_rater={str(r): int(n) for r, n in missing.items()})
