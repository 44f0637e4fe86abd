"""The self-report form's keyboard and mouse rules (Qt-free)."""

from __future__ import annotations

import pytest

from protocols.report_form import ReportForm


def press(form: ReportForm, *keys: str) -> bool:
    """Press keys in order; True if one of them submitted."""
    return any([form.key(k) for k in keys])


def test_three_digits_and_enter_answer_everything() -> None:
    form = ReportForm()
    assert not press(form, "4", "2")
    assert (form.emotion, form.valence, form.row) == ("fear", 2, 2)
    assert not form.complete
    assert press(form, "8", "enter")
    assert form.answer() == ("fear", 2, 8)


def test_arrows_and_rows() -> None:
    form = ReportForm()
    press(form, "right", "right")  # first emotion, then the next one
    assert form.emotion == "surprise"
    press(form, "down", "left")  # valence starts in the middle of the scale
    assert form.valence == 5
    press(form, "left", "left", "left", "left", "left")
    assert form.valence == 1  # clamped
    press(form, "tab", "right")
    assert (form.row, form.arousal) == (2, 5)
    press(form, "up", "up", "up")
    assert form.row == 0
    press(form, "left")
    assert form.emotion == "happiness"


def test_enter_on_an_incomplete_form_goes_to_the_missing_row() -> None:
    form = ReportForm()
    press(form, "3", "enter")
    assert form.row == 1 and form.emotion == "sadness"
    press(form, "9", "9")
    assert form.complete and form.row == 2
    press(form, "0", "up", "up", "8")  # 0 and 8 are no emotions: nothing changes
    assert form.answer() == ("sadness", 9, 9)


def test_mouse_choices() -> None:
    form = ReportForm()
    form.choose("arousal", 3)
    assert form.row == 2
    form.choose("emotion", "contempt")
    form.choose("valence", 6)
    assert form.complete and form.answer() == ("contempt", 6, 3)
    with pytest.raises(ValueError):
        form.choose("valence", 10)
    with pytest.raises(ValueError):
        form.choose("emotion", "boredom")
