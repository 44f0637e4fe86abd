"""Which LSL stream to record: a query by name, type, source_id and/or hostname.

A query is written `key=value[,key=value...]` with keys name, type, source_id and hostname
(e.g. `type=Gaze`, `name=Markers,hostname=stim-pc`); a value without a key is a name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from core.devices import DeviceError

QUERY_SYNTAX = "key=value[,key=value...] with keys name, type, source_id, hostname"


@dataclass(frozen=True)
class StreamQuery:
    """The properties an LSL stream must have to be selected (None: any)."""

    name: str | None = None
    type: str | None = None  # shadows the builtin: LSL's property name
    source_id: str | None = None
    hostname: str | None = None

    @classmethod
    def parse(cls, text: str) -> StreamQuery:
        """A query from `key=value[,key=value...]`; a bare value is a stream name."""
        if not text.strip():
            raise ValueError(f"stream query is empty: give a stream name or {QUERY_SYNTAX}")
        keys = {f.name for f in fields(cls)}
        criteria: dict[str, str] = {}
        parts = [p.strip() for p in text.split(",")] if "=" in text else [f"name={text}"]
        for part in parts:
            key, _, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if key not in keys or not value:
                raise ValueError(
                    f"stream query {text!r}: {part!r} is not key=value with a key among "
                    f"{', '.join(sorted(keys))} (write {QUERY_SYNTAX}, e.g. type=Gaze)"
                )
            if key in criteria:
                raise ValueError(f"stream query {text!r} gives {key} twice; give it once")
            criteria[key] = value
        return cls(**criteria)

    def criteria(self) -> dict[str, str]:
        """The properties asked for, in LSL's order."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name))}

    def text(self) -> str:
        """The query as written on the command line, e.g. name=Markers,hostname=stim-pc."""
        return ",".join(f"{k}={v}" for k, v in self.criteria().items())

    def describe(self) -> str:
        """Human-readable form for messages, e.g. name='EEG' and type='EEG'."""
        return " and ".join(f"{k}={v!r}" for k, v in self.criteria().items()) or "(no selector)"

    def predicate(self) -> str:
        """The query as an LSL (XPath 1.0) predicate."""
        return " and ".join(f"{k}={_xpath_literal(v)}" for k, v in self.criteria().items())


def _xpath_literal(value: str) -> str:
    """Quote a value for an XPath 1.0 predicate (which has no escape sequences)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise DeviceError(
        f"Stream selector {value!r} contains both ' and \" and cannot be searched for; "
        "select the stream by another property (name, type, source_id or hostname)."
    )
