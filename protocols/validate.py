"""Semantic checks of a loaded protocol: clips, counts, order constraints, timings, codes."""

from __future__ import annotations

import math
from collections import Counter

from core.codes import CAMERA_LINE, PROBE_CODE, SYNC_CODE
from core.expressions import EMOTIONS
from core.toml_source import KeyPath, TomlSource
from protocols.clipcheck import probe_clip
from protocols.library import Library
from protocols.model import NEUTRAL, SEGMENT_MODES, Protocol
from protocols.order import order_is_feasible
from protocols.problems import Problem

DURATION_TOLERANCE_S = 0.5


def validate(protocol: Protocol, source: TomlSource, library: Library, *,
             check_clips: bool = True) -> list[Problem]:
    """Every semantic problem of the protocol (schema problems are found by check_keys)."""
    problems = check_blocks(protocol, source, library)
    problems += check_timings(protocol, source)
    problems += check_randomisation(protocol, source)
    problems += check_codes(protocol, source)
    problems += check_texts(protocol, source)
    if library.source is not None:
        problems += check_library(protocol, library)
        if check_clips:
            problems += check_files(protocol, source, library)
    return problems


def check_library(protocol: Protocol, library: Library) -> list[Problem]:
    """Emotion names, rating ranges and durations of every manifest entry."""
    assert library.source is not None
    problems = []
    for clip_id, clip in protocol.clips.items():
        row = library.rows[clip_id]

        def at(key: str, message: str, row: int = row) -> Problem:
            assert library.source is not None
            return library.source.problem(("clip", row, key), message)

        if clip.emotion not in (*EMOTIONS, NEUTRAL):
            problems.append(at("emotion", f"clip {clip_id!r}: unknown emotion {clip.emotion!r} "
                                          f"(known: {', '.join((*EMOTIONS, NEUTRAL))})"))
        for key, value in (("valence", clip.valence), ("arousal", clip.arousal)):
            if math.isnan(value):
                if clip.emotion != NEUTRAL:  # neutral clips are not rated
                    problems.append(at("id", f"clip {clip_id!r} has no normative {key}: "
                                              "rate the library (docs/stimuli.md)"))
            elif not 1.0 <= value <= 9.0:
                problems.append(at(key, f"clip {clip_id!r}: {key} {value:g} is outside 1..9"))
        if clip.duration <= 0:
            problems.append(at("duration", f"clip {clip_id!r}: duration must be > 0 s"))
        elif (clip.emotion != NEUTRAL and protocol.timings.max_stimulus_s > 0
              and clip.duration > protocol.timings.max_stimulus_s):
            problems.append(at("duration", f"clip {clip_id!r} lasts {clip.duration:g} s, longer "
                                           f"than timings.max_stimulus_s "
                                           f"({protocol.timings.max_stimulus_s:g} s)"))
        if not clip.file:
            problems.append(at("file", f"clip {clip_id!r}: empty file name"))
    return problems


def _used_clips(protocol: Protocol) -> list[str]:
    seen: dict[str, None] = {}
    for clip_id in (*protocol.practice, *protocol.main, *protocol.neutral):
        if clip_id in protocol.clips:
            seen.setdefault(clip_id)
    return list(seen)


def check_files(protocol: Protocol, source: TomlSource, library: Library) -> list[Problem]:
    """Every clip the protocol uses exists, decodes, and lasts what the manifest says."""
    assert library.source is not None
    used = _used_clips(protocol)
    folder = protocol.stimulus_folder
    if not folder.is_dir():
        return [source.problem(
            ("stimuli", "folder"),
            f"stimulus folder {folder} does not exist: none of the {len(used)} clips the "
            f"protocol uses can be found (set [stimuli].folder or pass --stimuli DIR)")]
    problems = []
    for clip_id in used:
        clip = protocol.clips[clip_id]
        where = ("clip", library.rows[clip_id], "file")
        probe = probe_clip(clip.path)
        if not probe.ok:
            state = "missing" if probe.error == "file not found" else "undecodable"
            problems.append(library.source.problem(
                where, f"clip {clip_id!r} is {state}: {clip.path} ({probe.error})"))
            continue
        tolerance = max(DURATION_TOLERANCE_S, 0.05 * clip.duration)
        if probe.duration > 0 and abs(probe.duration - clip.duration) > tolerance:
            problems.append(library.source.problem(
                ("clip", library.rows[clip_id], "duration"),
                f"clip {clip_id!r} lasts {probe.duration:.2f} s but the manifest says "
                f"{clip.duration:g} s"))
    return problems


def check_blocks(protocol: Protocol, source: TomlSource, library: Library) -> list[Problem]:
    """Practice, main design and neutral clips: known ids, right emotions, right counts."""
    known = library.source is not None  # without a manifest, ids cannot be checked
    return [*check_practice(protocol, source, known),
            *check_design_emotions(protocol, source),
            *check_design_clips(protocol, source, known),
            *check_neutral(protocol, source, known)]


def _at_value(source: TomlSource, path: KeyPath, value: str, message: str) -> Problem:
    """A problem on the line where `value` is listed under `path`."""
    return Problem(source.path, source.value_line(path, value), message)


def _unknown_clip(protocol: Protocol, source: TomlSource, path: KeyPath,
                  clip_id: str) -> Problem:
    return _at_value(source, path, clip_id,
                     f"{'.'.join(path)}: clip {clip_id!r} is not in the stimulus manifest "
                     f"{protocol.manifest}")


def _duplicate_clips(source: TomlSource, path: KeyPath, ids: tuple[str, ...]) -> list[Problem]:
    return [_at_value(source, path, clip_id,
                      f"{'.'.join(path)}: clip {clip_id!r} listed {count} times")
            for clip_id, count in Counter(ids).items() if count > 1]


def check_practice(protocol: Protocol, source: TomlSource, known: bool) -> list[Problem]:
    """Practice clips are known, not neutral, not used again in the design, listed once."""
    path = ("practice", "clips")
    problems = []
    for clip_id in protocol.practice:
        if known and clip_id not in protocol.clips:
            problems.append(_unknown_clip(protocol, source, path, clip_id))
        elif clip_id in protocol.main:
            problems.append(_at_value(source, path, clip_id,
                                      f"practice clip {clip_id!r} is also in design.clips: "
                                      "practice clips must not be used later"))
        elif known and protocol.clips[clip_id].emotion == NEUTRAL:
            problems.append(_at_value(source, path, clip_id,
                                      f"practice clip {clip_id!r} is a neutral clip"))
    return problems + _duplicate_clips(source, path, protocol.practice)


def check_design_emotions(protocol: Protocol, source: TomlSource) -> list[Problem]:
    """design.emotions are known and listed once; clips_per_emotion is at least 1."""
    path = ("design", "emotions")
    problems = [_at_value(source, path, emotion,
                          f"design.emotions: unknown emotion {emotion!r} "
                          f"(known: {', '.join(EMOTIONS)})")
                for emotion in protocol.emotions if emotion not in EMOTIONS]
    problems += [source.problem(path, f"design.emotions lists {emotion!r} {count} times")
                 for emotion, count in Counter(protocol.emotions).items() if count > 1]
    if "clips_per_emotion" in source.data.get("design", {}) and protocol.clips_per_emotion < 1:
        problems.append(source.problem(("design", "clips_per_emotion"),
                                       "design.clips_per_emotion must be at least 1"))
    return problems


def check_design_clips(protocol: Protocol, source: TomlSource, known: bool) -> list[Problem]:
    """design.clips are known, of a design emotion, listed once, clips_per_emotion of each."""
    if not known:
        return _duplicate_clips(source, ("design", "clips"), protocol.main)
    path = ("design", "clips")
    problems = []
    counts: Counter[str] = Counter()
    for clip_id in protocol.main:
        if clip_id not in protocol.clips:
            problems.append(_unknown_clip(protocol, source, path, clip_id))
            continue
        emotion = protocol.clips[clip_id].emotion
        counts[emotion] += 1
        if emotion not in protocol.emotions:
            hint = " (neutral clips go in design.neutral)" if emotion == NEUTRAL else ""
            problems.append(_at_value(source, path, clip_id,
                                      f"design.clips: clip {clip_id!r} is {emotion!r}, which "
                                      f"is not in design.emotions{hint}"))
    problems += _duplicate_clips(source, path, protocol.main)
    if protocol.clips_per_emotion >= 1:
        problems += [source.problem(path,
                                    f"design.clips has {counts[emotion]} {emotion!r} clip(s), "
                                    f"expected {protocol.clips_per_emotion} "
                                    "(design.clips_per_emotion)")
                     for emotion in protocol.emotions
                     if counts[emotion] != protocol.clips_per_emotion]
    return problems


def check_neutral(protocol: Protocol, source: TomlSource, known: bool) -> list[Problem]:
    """design.neutral names at least one clip; each is known, neutral and long enough."""
    path = ("design", "neutral")
    problems = []
    if "neutral" in source.data.get("design", {}) and not protocol.neutral:
        problems.append(source.problem(path,
                                       "design.neutral must name at least one neutral clip"))
    if not known:
        return problems
    for clip_id in protocol.neutral:
        clip = protocol.clips.get(clip_id)
        if clip is None:
            problems.append(_unknown_clip(protocol, source, path, clip_id))
        elif clip.emotion != NEUTRAL:
            problems.append(_at_value(source, path, clip_id,
                                      f"design.neutral: clip {clip_id!r} is {clip.emotion!r}, "
                                      "not neutral"))
        elif 0 < clip.duration < protocol.timings.neutral_s - 0.05:
            problems.append(_at_value(source, path, clip_id,
                                      f"neutral clip {clip_id!r} lasts {clip.duration:g} s, "
                                      f"shorter than timings.neutral_s "
                                      f"({protocol.timings.neutral_s:g} s)"))
    return problems


def check_timings(protocol: Protocol, source: TomlSource) -> list[Problem]:
    """Phase timings are positive and within sensible limits."""
    problems = []
    given = source.data.get("timings", {})
    limits = {"self_report_s": (1.0, 600.0), "neutral_s": (1.0, 600.0),
              "max_stimulus_s": (1.0, 3600.0), "clip_grace_s": (0.5, 60.0)}
    for key, (low, high) in limits.items():
        value = getattr(protocol.timings, key)
        if key in given and isinstance(given[key], int | float) and not low <= value <= high:
            problems.append(source.problem(("timings", key),
                                           f"timings.{key} = {value:g} s is outside "
                                           f"{low:g}..{high:g} s"))
    seconds = protocol.reminder.seconds
    if "seconds" in source.data.get("reminder", {}) and not 0.2 <= seconds <= 60.0:
        problems.append(source.problem(("reminder", "seconds"),
                                       f"reminder.seconds = {seconds:g} is outside 0.2..60 s"))
    return problems


def check_randomisation(protocol: Protocol, source: TomlSource) -> list[Problem]:
    """The run limit is at least 1, some order of the design can meet it, the seed is >= 0."""
    problems = []
    given = source.data.get("randomisation", {})
    limit = protocol.randomisation.max_run
    where = ("randomisation", "max_same_emotion_in_a_row")
    emotions = [protocol.clips[c].emotion for c in protocol.main if c in protocol.clips]
    if "max_same_emotion_in_a_row" not in given:
        pass  # reported as missing by the schema check
    elif limit < 1:
        problems.append(source.problem(
            where, "randomisation.max_same_emotion_in_a_row must be >= 1"))
    elif emotions and not order_is_feasible(Counter(emotions), limit):
        problems.append(source.problem(
            where, f"no order of design.clips keeps at most {limit} clips of one emotion "
                   "in a row"))
    if protocol.randomisation.seed is not None and protocol.randomisation.seed < 0:
        problems.append(source.problem(("randomisation", "seed"),
                                       "randomisation.seed must be >= 0"))
    return problems


def check_codes(protocol: Protocol, source: TomlSource) -> list[Problem]:
    """Codes are 0..254, none is a reserved code, no two events share one; warn on line 8."""
    problems = []
    entries = [(("codes", n), c) for n, c in protocol.codes.events.items()]
    entries += [(("codes", "stimulus_onset", n), c) for n, c in protocol.codes.onset.items()]
    owner: dict[int, tuple[str, ...]] = {}
    for path, code in entries:
        name = ".".join(path)
        if code == SYNC_CODE:
            problems.append(source.problem(path, f"{name} = 255 is reserved for the sync train"))
        elif code == PROBE_CODE:
            problems.append(source.problem(
                path, f"{name} = {PROBE_CODE} is reserved for the recorder's clock probes"))
        elif not 0 <= code <= 254:
            problems.append(source.problem(path, f"{name} = {code} is outside 0..254"))
        elif code & CAMERA_LINE:
            problems.append(source.problem(
                path, f"{name} = {code} sets line 8, which reaches the camera's sync input; "
                      "keep event codes in 1..127", severity="warning"))
        if code and code in owner:
            problems.append(source.problem(path, f"duplicate trigger code {code}: {name} and "
                                                 f"{'.'.join(owner[code])}"))
        owner.setdefault(code, path)
    return problems


def check_texts(protocol: Protocol, source: TomlSource) -> list[Problem]:
    """Texts and the reminder prompt are not empty; the camera segment mode is known."""
    problems = []
    for name, text in protocol.texts.items():
        if name in source.data.get("texts", {}) and not text.strip():
            problems.append(source.problem(("texts", name), f"texts.{name} is empty"))
    if "text" in source.data.get("reminder", {}) and not protocol.reminder.text.strip():
        problems.append(source.problem(("reminder", "text"), "reminder.text is empty"))
    if protocol.segment not in SEGMENT_MODES:
        problems.append(source.problem(("camera", "segment"),
                                       f"camera.segment {protocol.segment!r} is not one of "
                                       f"{', '.join(SEGMENT_MODES)}"))
    return problems
