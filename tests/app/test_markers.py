"""The `melab-markers` LSL outlet: every event a recording logs, received by another program."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recordings.store.reader import open_session


@pytest.mark.slow
def test_every_event_of_the_demo_protocol_arrives_on_melab_markers_in_order(
        console_session: dict[str, Any]) -> None:
    stream = console_session["stream"]
    assert (stream.name(), stream.type(), stream.channel_format()) == ("melab-markers",
                                                                      "Markers", 3)
    with open_session(console_session["folder"]) as session:
        logged = [e for e in session.events if e.kind != "lsl_marker"]
    received = console_session["markers"]
    kinds = [json.loads(text)["kind"] for _, text in received]
    assert kinds == [e.kind for e in logged]
    assert {"recording_start", "trial_start", "stimulus_onset", "answer", "reminder",
            "trial_end", "recording_stop"} <= set(kinds)
    for (stamp, text), event in zip(received, logged, strict=True):
        marker = json.loads(text)
        assert (marker["trial"], marker["code"], marker["payload"]) == (
            event.trial, event.code, event.payload)
        assert abs(stamp + console_session["offset"] - event.time) < 0.002, event.kind
