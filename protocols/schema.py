"""Which tables and keys a protocol file and a stimulus manifest may hold, and their types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.toml_source import KeyPath, TomlSource
from protocols.model import EVENT_CODE_NAMES, ONSET_CODE_NAMES, TEXT_NAMES
from protocols.problems import Problem


@dataclass(frozen=True)
class Key:
    """What one key holds: kind is str, int, number, bool, str_list, table or table_list."""

    kind: str
    required: bool = True
    table: Mapping[str, Key] = field(default_factory=dict)

_KIND_NAMES = {"str": "a string", "int": "an integer", "number": "a number",
               "bool": "true or false", "str_list": "a list of strings",
               "table": "a table", "table_list": "an array of tables ([[...]])"}

def _is_kind(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "table":
        return isinstance(value, dict)
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)

def check_keys(source: TomlSource, data: Mapping[str, Any], spec: Mapping[str, Key],
               path: KeyPath = ()) -> list[Problem]:
    """Unknown keys, missing required keys and wrong types, recursively, each with its line."""
    problems: list[Problem] = []
    where = ".".join(str(p) for p in path if isinstance(p, str))
    for name, value in data.items():
        key_path = (*path, name)
        if name not in spec:
            known = ", ".join(sorted(spec))
            problems.append(source.problem(
                key_path, f"unknown key '{name}' in [{where or 'top level'}] (known: {known})"))
            continue
        key = spec[name]
        if not _is_kind(value, key.kind):
            problems.append(source.problem(
                key_path, f"'{'.'.join(str(p) for p in key_path)}' must be "
                          f"{_KIND_NAMES[key.kind]}, not {type(value).__name__} {value!r}"))
        elif key.kind == "table":
            problems += check_keys(source, value, key.table, key_path)
        elif key.kind == "table_list":
            for index, item in enumerate(value):
                problems += check_keys(source, item, key.table, (*key_path, index))
    for name, key in spec.items():
        if key.required and name not in data:
            label = f"[{name}]" if key.kind == "table" else f"'{name}'"
            problems.append(source.problem(
                path, f"missing {label}" + (f" in [{where}]" if where else "")))
    return problems

def _codes() -> dict[str, Key]:
    table: dict[str, Key] = {name: Key("int") for name in EVENT_CODE_NAMES}
    table["stimulus_onset"] = Key("table", table={name: Key("int") for name in ONSET_CODE_NAMES})
    return table

PROTOCOL_SCHEMA: dict[str, Key] = {
    "protocol": Key("table", table={
        "name": Key("str"), "version": Key("int"), "description": Key("str", required=False)}),
    "stimuli": Key("table", table={
        "folder": Key("str", required=False), "manifest": Key("str", required=False),
        "generate": Key("str", required=False)}),
    "practice": Key("table", required=False, table={"clips": Key("str_list")}),
    "design": Key("table", table={
        "emotions": Key("str_list"), "clips_per_emotion": Key("int"),
        "clips": Key("str_list"), "neutral": Key("str_list")}),
    "randomisation": Key("table", table={
        "max_same_emotion_in_a_row": Key("int"), "seed": Key("int", required=False)}),
    "timings": Key("table", table={
        "self_report_s": Key("number"), "neutral_s": Key("number"),
        "max_stimulus_s": Key("number"), "clip_grace_s": Key("number", required=False)}),
    "codes": Key("table", table=_codes()),
    "texts": Key("table", table={name: Key("str") for name in TEXT_NAMES}),
    "reminder": Key("table", table={"text": Key("str"), "seconds": Key("number")}),
    "camera": Key("table", required=False, table={"segment": Key("str")}),
}

MANIFEST_SCHEMA: dict[str, Key] = {
    "library": Key("table", required=False, table={
        "name": Key("str"), "description": Key("str", required=False),
        "generator": Key("str", required=False), "version": Key("int", required=False)}),
    "clip": Key("table_list", table={
        "id": Key("str"), "file": Key("str"), "emotion": Key("str"),
        # normative ratings: absent in a library of candidate clips not yet rated
        "valence": Key("number", required=False), "arousal": Key("number", required=False),
        "duration": Key("number")}),
}
