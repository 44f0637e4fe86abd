"""Units of a channel mapped to the standard one of its type (EEG µV, ECG mV, EDA µS, SKT °C).

A sender's unit text (or a rig profile's) is looked up without case, spaces or dots, with
"u" for "µ"; a channel type says which quantity it must be (EEG, EOG, EMG, ECG: a voltage;
EDA: a conductance; temperature: °C). Anything else, or an empty unit where a quantity is
needed (raw ADC counts), cannot be mapped: a rig profile then states unit and scale
(docs/rig-profiles.md).
"""

from __future__ import annotations

from dataclasses import dataclass

# Unit text -> (quantity, factor to the quantity's standard unit).
_UNITS: dict[str, tuple[str, float]] = {
    **dict.fromkeys(("uv", "microvolt", "microvolts"), ("voltage", 1.0)),
    **dict.fromkeys(("mv", "millivolt", "millivolts"), ("voltage", 1e3)),
    **dict.fromkeys(("v", "volt", "volts"), ("voltage", 1e6)),
    **dict.fromkeys(("nv", "nanovolt", "nanovolts"), ("voltage", 1e-3)),
    **dict.fromkeys(("us", "microsiemens", "umho", "umhos"), ("conductance", 1.0)),
    **dict.fromkeys(("nanosiemens", "ns"), ("conductance", 1e-3)),
    **dict.fromkeys(("degc", "°c", "c", "celsius"), ("temperature", 1.0)),
    **dict.fromkeys(("au", "arbitrary", "%", "percent", "bpm", "l", "ml"), ("other", 1.0)),
}
STANDARD = {"voltage": "µV", "conductance": "µS", "temperature": "°C"}
ECG_STANDARD = ("mV", 1e-3)  # ECG is read in mV (µV x 1e-3), as ECG software expects
# Channel types whose values must be a given quantity for the analysis to read them.
QUANTITY_OF_TYPE = {"eeg": "voltage", "eog": "voltage", "emg": "voltage", "ecg": "voltage",
                    "eda": "conductance", "temp": "temperature"}
KNOWN_UNITS = ("µV", "mV", "V", "nV", "µS", "nS", "°C", "a.u.", "%")  # for messages


@dataclass(frozen=True)
class UnitMap:
    """A unit as standard unit and factor: standard = raw * factor."""

    unit: str  # standard unit (µV, µS, °C) or the text as given for other quantities
    factor: float


def _key(unit: str) -> str:
    return unit.strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "").replace(
        ".", "")


def is_known_unit(unit: str) -> bool:
    """True when the unit text is one this module maps."""
    return _key(unit) in _UNITS


def map_unit(unit: str, channel_type: str, scale: float = 1.0) -> UnitMap | None:
    """The standard unit and factor of `scale` x values in `unit` for a channel of a type;
    None when the unit is unknown or not the quantity the type needs."""
    need = QUANTITY_OF_TYPE.get(channel_type)
    found = _UNITS.get(_key(unit))
    if found is None:
        return None if need else UnitMap(unit.strip(), scale)
    quantity, factor = found
    if need is None:  # respiration, PPG, misc: any unit, kept as stated
        return UnitMap(unit.strip(), scale)
    if quantity != need:
        return None
    if channel_type == "ecg":
        return UnitMap(ECG_STANDARD[0], scale * factor * ECG_STANDARD[1])
    return UnitMap(STANDARD[quantity], scale * factor)
