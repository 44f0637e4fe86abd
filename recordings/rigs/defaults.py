"""What melab guesses without a rig profile: a stream's role and each channel's type.

Stream roles come from the stream type (EEG; Physio, PsychoPhys, Biopac; a bridge's generic
type such as "float" by its channels' labels), channel types from the type the sender
declares, else from the label (ECG/EKG, EDA/GSR/SC, RSP/RESP, SKT/TEMP, PPG/PLETH; 10-20
names in an EEG stream). Every guess is said at start and stored with the session
(docs/rig-profiles.md).
"""

from __future__ import annotations

import re

# Stream type (lower case) -> role.
STREAM_TYPE_ROLES = {
    "eeg": "eeg",
    **dict.fromkeys(("physio", "psychophys", "biopac", "physiology", "peripheral", "exg",
                     "bio"), "physio"),
    **dict.fromkeys(("markers", "marker", "events", "event", "stim"), "markers"),
}
# Channel type or label alias (upper case, without spaces, '_' or '-') -> channel type.
CHANNEL_ALIASES = {
    **dict.fromkeys(("ECG", "EKG", "ECGII", "EKGII", "LEADII"), "ecg"),
    **dict.fromkeys(("EDA", "GSR", "SC", "SCL", "SKINCONDUCTANCE"), "eda"),
    **dict.fromkeys(("RSP", "RESP", "RESPIRATION", "BREATHING"), "resp"),
    **dict.fromkeys(("SKT", "TEMP", "TEMPERATURE", "SKINTEMP"), "temp"),
    **dict.fromkeys(("PPG", "PLETH", "PULSE", "BVP"), "ppg"),
    **dict.fromkeys(("EOG", "HEO", "VEO", "HEOG", "VEOG", "HEOL", "HEOR", "VEOU", "VEOL"), "eog"),
    "EMG": "emg",
    **dict.fromkeys(("REF", "M1", "M2", "A1", "A2", "GND", "CPZREF"), "ref"),
    **dict.fromkeys(("STIM", "TRIGGER", "TRIG", "DIGITAL", "EVENT", "MARKER", "MARKERS"),
                    "stim"),
    "EEG": "eeg",
    **dict.fromkeys(("MISC", "AUX", "OTHER"), "misc"),
}
# 10-20 / 10-10 / 10-5 electrode names (Fp1, AFz, FC3, T7, P10, Oz, POO9h ...).
_ELECTRODE = re.compile(r"^(N|FP|AF|AFF|F|FFC|FT|FC|FCC|T|TT|TP|C|CCP|CP|CPP|P|PPO|PO|POO|O|OI|I"
                        r")(Z|\d{1,2})H?$")
_GENERATED = re.compile(r"^CH\d+$")  # the label drivers.lsl gives a channel without one
PHYSIO_TYPES = ("ecg", "eda", "resp", "temp", "ppg")


def alias_key(text: str) -> str:
    """A label or type compared without case, spaces, underscores, hyphens or dots."""
    return re.sub(r"[\s_\-.]+", "", text).upper()


def channel_type_of(label: str, declared: str, stream_role: str) -> tuple[str, str]:
    """(type, why) of one channel: the declared type, the label's alias, its 10-20 name."""
    for text, why in ((declared, "by declared type"), (label, "by label")):
        kind = CHANNEL_ALIASES.get(alias_key(text)) if text else None
        if kind:
            return kind, why
    key = alias_key(label)
    if stream_role == "eeg" and _ELECTRODE.match(key):
        return "eeg", "10-20 names"
    if stream_role == "eeg" and _GENERATED.match(key):
        return "eeg", "unlabelled channels of an EEG stream"
    return "misc", "no known name"


def stream_role_of(stream_type: str, channel_format: str, labels: tuple[str, ...],
                   declared: tuple[str, ...]) -> tuple[str, str]:
    """(role, why) of a stream: by its type, else markers by format, else physio by content."""
    role = STREAM_TYPE_ROLES.get(stream_type.strip().lower())
    if role:
        return role, f"stream type {stream_type!r}"
    if channel_format == "string":
        return "markers", "string samples"
    kinds = [channel_type_of(lb, dt, "other")[0]
             for lb, dt in zip(labels, declared or ("",) * len(labels), strict=True)]
    if any(k in PHYSIO_TYPES for k in kinds):
        return "physio", f"stream type {stream_type!r} with physiological channel labels"
    return "other", f"stream type {stream_type!r} is no known role"
