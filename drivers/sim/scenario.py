"""Ground truth of one simulated session: trials, emotional episodes, expressions, triggers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.codes import DEFAULT_PULSE_WIDTH_MS, DEFAULT_SYNC_PERIOD_S, SYNC_CODE
from core.expressions import EMOTION_AUS, EMOTIONS
from drivers.sim.expression import DEFAULT_INTENSITY, Expression

PULSE_WIDTH_S = DEFAULT_PULSE_WIDTH_MS / 1000.0
# Simulator event codes, kept in 1..127 so the camera GPI (line 8) sees only the sync train.
EVENT_CODES: dict[str, int] = {
    "session_start": 1,
    "session_end": 2,
    **{f"stim_onset_{e}": 10 + i for i, e in enumerate(EMOTIONS)},
    "stim_offset": 20,
    "report_onset": 30,
    "report_done": 31,
    "neutral_onset": 40,
    "neutral_offset": 41,
    "reminder": 50,
}

# CMRR trial phases (MMME 3.3): SPACE wait, ~60 s clip, 25 s self-report, 30 s neutral clip.
_WAIT_S, _STIM_S, _REPORT_S, _NEUTRAL_S = 2.0, 60.0, 25.0, 30.0
MIN_GAP_S = 1.5  # between the offset of one expression and the onset of the next


@dataclass(frozen=True)
class Episode:
    """One trial's stimulus window [start, end) inducing `emotion`, plus its later phases."""

    trial: int
    emotion: str
    start: float
    end: float
    report_end: float
    neutral_end: float


@dataclass(frozen=True)
class Marker:
    """A protocol event the host asked the trigger box to send at `t` (physical seconds)."""

    t: float
    name: str
    code: int


@dataclass
class Scenario:
    """Everything that 'really happened' in a simulated session, on physical time."""

    seed: int
    duration: float
    episodes: list[Episode] = field(default_factory=list)
    expressions: list[Expression] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    triggers: list[tuple[float, int]] = field(default_factory=list)  # actual rising edges
    sync_period: float = DEFAULT_SYNC_PERIOD_S
    pulse_width: float = PULSE_WIDTH_S

    def trigger_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Rising-edge physical times (float64) and codes (int) of every pulse, in order."""
        if not self.triggers:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        t, c = zip(*self.triggers, strict=True)
        return np.asarray(t, dtype=np.float64), np.asarray(c, dtype=np.int64)

    def apexes(self, kind: str | None = "micro") -> np.ndarray:
        """Apex times of expressions of `kind` ('micro', 'macro' or None for all)."""
        return np.array([e.apex for e in self.expressions if kind is None or e.kind == kind],
                        dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe ground truth (for the session file and for scoring analyses)."""
        return {
            "seed": self.seed,
            "duration": self.duration,
            "sync_period": self.sync_period,
            "pulse_width": self.pulse_width,
            "episodes": [asdict(e) for e in self.episodes],
            "expressions": [_expression_dict(e) for e in self.expressions],
            "markers": [asdict(m) for m in self.markers],
            "triggers": [[float(t), int(c)] for t, c in self.triggers],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scenario:
        """Rebuild a scenario from to_dict() output."""
        exprs = [Expression(**{**e, "aus": tuple(e["aus"])}) for e in d["expressions"]]
        return cls(
            seed=int(d["seed"]), duration=float(d["duration"]),
            episodes=[Episode(**e) for e in d["episodes"]], expressions=exprs,
            markers=[Marker(**m) for m in d["markers"]],
            triggers=[(float(t), int(c)) for t, c in d["triggers"]],
            sync_period=float(d["sync_period"]), pulse_width=float(d["pulse_width"]))


def _expression_dict(e: Expression) -> dict[str, Any]:
    d = asdict(e)
    d["aus"] = list(d["aus"])
    return d


def _layout(duration: float, trials: int, rng: np.random.Generator) -> list[Episode]:
    """Cut the session into trials whose phases keep the CMRR proportions."""
    lead = min(5.0, 0.05 * duration)  # resting baseline before the first clip
    slot = (duration - 2 * lead) / trials
    cycle = _WAIT_S + _STIM_S + _REPORT_S + _NEUTRAL_S
    scale = min(1.0, slot / cycle)  # short test sessions shrink the phases, never stretch
    order = rng.permutation(len(EMOTIONS))
    episodes = []
    for i in range(trials):
        t = lead + i * slot + _WAIT_S * scale
        stim_end = t + _STIM_S * scale
        report_end = stim_end + _REPORT_S * scale
        neutral_end = report_end + _NEUTRAL_S * scale
        emotion = EMOTIONS[int(order[i % len(EMOTIONS)])]
        episodes.append(Episode(i, emotion, t, stim_end, report_end, neutral_end))
    return episodes


def _draw_expression(rng: np.random.Generator, kind: str, onset: float,
                     emotion: str) -> Expression:
    proto = EMOTION_AUS[emotion]
    if kind == "micro":
        # Most MEs last 200-500 ms; the 40 ms floor is the papers' shortest.
        length = 0.04 + 0.46 * float(rng.beta(3.0, 1.5))
        rise = min(0.25, length * float(rng.uniform(0.3, 0.6)))
        n_aus = int(rng.integers(1, min(3, len(proto)) + 1))
        intensity = DEFAULT_INTENSITY[kind] * float(rng.uniform(0.6, 1.4))
    else:
        length = float(rng.uniform(0.5, 4.0))
        rise = length * float(rng.uniform(0.2, 0.45))
        n_aus = int(rng.integers(max(1, len(proto) - 1), len(proto) + 1))
        intensity = DEFAULT_INTENSITY[kind] * float(rng.uniform(0.6, 1.4))
    aus = tuple(sorted(int(a) for a in rng.choice(proto, size=n_aus, replace=False)))
    return Expression(onset=onset, apex=onset + rise, offset=onset + length, kind=kind,
                      emotion=emotion, aus=aus, intensity=intensity)


def _free(placed: list[tuple[float, float]], start: float, end: float) -> bool:
    return all(end + MIN_GAP_S <= s or start >= e + MIN_GAP_S for s, e in placed)


def _place_expressions(rng: np.random.Generator, episodes: list[Episode], duration: float,
                       micro_per_minute: float, macro_per_minute: float,
                       outside_fraction: float) -> list[Expression]:
    """Poisson counts per clip; rejection sampling keeps every pair >= MIN_GAP_S apart."""
    placed: list[tuple[float, float]] = []
    out: list[Expression] = []
    requests: list[tuple[str, Episode, float, float]] = []
    for ep in episodes:
        minutes = (ep.end - ep.start) / 60.0
        for kind, rate in (("macro", macro_per_minute), ("micro", micro_per_minute)):
            n = int(rng.poisson(rate * minutes))
            n_out = int(rng.binomial(n, outside_fraction))
            # Outside the clip: the report and neutral phases, where suppression lapses.
            requests += [(kind, ep, ep.end + 1.0, ep.neutral_end - 1.0)] * n_out
            requests += [(kind, ep, ep.start + 1.0, ep.end - 1.0)] * (n - n_out)
    # Macro-expressions first: they are long and the hardest to fit.
    requests.sort(key=lambda r: r[0] != "macro")
    for kind, ep, lo, hi in requests:
        hi = min(hi, duration - 5.0)
        for _ in range(100):
            if hi <= lo:
                break
            e = _draw_expression(rng, kind, float(rng.uniform(lo, hi)), ep.emotion)
            if e.offset <= hi + 1.0 and _free(placed, e.onset, e.offset):
                placed.append((e.onset, e.offset))
                out.append(e)
                break
    out.sort(key=lambda e: e.onset)
    return out


def expressions_for_clip(rng: np.random.Generator, emotion: str, start: float, end: float, *,
                         micro_per_minute: float = 3.0, macro_per_minute: float = 1.0,
                         placed: list[tuple[float, float]] | None = None,
                         lead: float = 1.5, tail: float = 0.3) -> list[Expression]:
    """What a participant shows while watching one clip of `emotion` playing over [start, end).

    Every expression lies within [start + lead, end - tail] (the face needs a moment to
    react; the clip's last frames may be cut), keeps MIN_GAP_S from the `placed` intervals and
    from each other, and `placed` grows by the new ones. One micro-expression always comes
    (the window allows it whenever it is at least 0.5 s long); more MEs and macro-expressions
    follow at the per-minute rates, macro ones only when they fit (rarely in short clips).
    """
    placed = [] if placed is None else placed
    lo, hi = start + lead, end - tail
    minutes = (end - start) / 60.0
    kinds = ["micro"] + ["macro"] * int(rng.poisson(macro_per_minute * minutes)) + [
        "micro"] * int(rng.poisson(micro_per_minute * minutes))
    out: list[Expression] = []
    for number, kind in enumerate(kinds):
        for attempt in range(100):
            if hi <= lo:
                break
            # The first ME falls back to the window's start, where the longest one fits.
            onset = lo if number == 0 and attempt == 99 else float(rng.uniform(lo, hi))
            e = _draw_expression(rng, kind, onset, emotion)
            if e.offset <= hi and _free(placed, e.onset, e.offset):
                placed.append((e.onset, e.offset))
                out.append(e)
                break
    out.sort(key=lambda e: e.onset)
    return out


def _markers(episodes: list[Episode], duration: float, rng: np.random.Generator,
             reminders_per_minute: float) -> list[Marker]:
    c = EVENT_CODES
    ms = [Marker(0.2, "session_start", c["session_start"])]
    for ep in episodes:
        ms += [Marker(ep.start, f"stim_onset_{ep.emotion}", c[f"stim_onset_{ep.emotion}"]),
               Marker(ep.end, "stim_offset", c["stim_offset"]),
               Marker(ep.end + 0.05, "report_onset", c["report_onset"]),
               Marker(ep.end + float(rng.uniform(0.3, 0.9)) * (ep.report_end - ep.end),
                      "report_done", c["report_done"]),
               Marker(ep.report_end, "neutral_onset", c["neutral_onset"]),
               Marker(ep.neutral_end, "neutral_offset", c["neutral_offset"])]
        n = int(rng.poisson(reminders_per_minute * (ep.end - ep.start) / 60.0))
        ms += [Marker(float(t), "reminder", c["reminder"])
               for t in rng.uniform(ep.start + 2.0, ep.end - 1.0, size=n)]
    ms.append(Marker(duration - 0.5, "session_end", c["session_end"]))
    return sorted(ms, key=lambda m: m.t)


def schedule_pulses(markers: list[Marker], duration: float, sync_period: float,
                    width: float, sync_start: float = 0.5) -> list[tuple[float, int]]:
    """Rising edges as the trigger box raises them: FIFO, each pulse then a gap of one width."""
    due = [(float(t), 0, SYNC_CODE) for t in np.arange(sync_start, duration - 2 * width,
                                                          sync_period)] if sync_period > 0 else []
    due += [(m.t, 1, m.code) for m in markers]
    due.sort()  # at equal due times the box queues the sync pulse first
    edges: list[tuple[float, int]] = []
    free_at = -np.inf
    for t, _, code in due:
        rise = max(t, free_at)
        if rise + width > duration:
            break
        edges.append((rise, code))
        free_at = rise + 2 * width
    return edges


def make_scenario(seed: int, duration: float = 600.0, trials: int | None = None,
                  micro_per_minute: float = 3.0, macro_per_minute: float = 1.0,
                  sync_period: float = DEFAULT_SYNC_PERIOD_S,
                  pulse_width: float = PULSE_WIDTH_S,
                  outside_fraction: float = 0.1,
                  reminders_per_minute: float = 0.3) -> Scenario:
    """A deterministic session: CMRR-like trials, MEs/macro-expressions and trigger edges.

    Expression rates are per minute of clip playback; `outside_fraction` of them fall in the
    report/neutral phases instead. Each expression carries its trial's emotion.
    """
    if duration < 20.0:
        raise ValueError("duration must be >= 20 s")
    rng = np.random.default_rng(seed)
    if trials is None:
        trials = max(1, round(duration / (_WAIT_S + _STIM_S + _REPORT_S + _NEUTRAL_S + 5.0)))
    episodes = _layout(duration, trials, rng)
    expressions = _place_expressions(rng, episodes, duration, micro_per_minute,
                                     macro_per_minute, outside_fraction)
    markers = _markers(episodes, duration, rng, reminders_per_minute)
    triggers = schedule_pulses(markers, duration, sync_period, pulse_width)
    return Scenario(seed, float(duration), episodes, expressions, markers, triggers,
                    sync_period, pulse_width)


def expressions_on_camera(scenario: dict[str, Any], fps: float, t0: float) -> dict[str, Any]:
    """Add each expression's camera frame numbers (1-based, frame n exposed at (n-1)/fps) and
    session-clock times (t0 + physical time) to a scenario's to_dict(); returns it."""
    for expression in scenario["expressions"]:
        for point in ("onset", "apex", "offset"):
            expression[f"{point}_frame"] = round(expression[point] * fps) + 1
            expression[f"{point}_session_time"] = t0 + expression[point]
    return scenario
