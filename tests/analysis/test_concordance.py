"""Concordance (MMME 4.1, Table 3): epoch selection, paired t-tests, planted changes, CSV."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analysis.concordance import (
    MIN_PAIRS,
    ClipData,
    ConcordanceRow,
    MEInterval,
    concordance_table,
    paired_row,
    significance_marks,
    valid_pairs,
    with_fdr,
    write_concordance_csv,
)
from drivers.sim.physio import PhysioParams, simulate_physio
from drivers.sim.scenario import make_scenario


def _me(apex: float, half: float = 0.2) -> MEInterval:
    return MEInterval(apex - half, apex, apex + half)


def _row(rows: list[ConcordanceRow], feature: str, epoch: float) -> ConcordanceRow:
    (row,) = [r for r in rows if r.feature == feature and r.epoch_s == epoch]
    return row


# --- epoch selection ---------------------------------------------------------------------

def test_pairs_with_another_me_inside_an_epoch_are_skipped() -> None:
    mes = [_me(10.0), _me(14.0), _me(30.0)]
    # 3 s: [7, 13] and [11, 17] miss the neighbour's 9.8-10.2 / 13.8-14.2 interval.
    np.testing.assert_array_equal(valid_pairs(mes, 3.0, 60.0), [0, 1, 2])
    # 5 s: the first two see each other; the third is alone.
    np.testing.assert_array_equal(valid_pairs(mes, 5.0, 60.0), [2])
    # 15 s: the first two would start before the clip; the third's [15, 45] is free.
    np.testing.assert_array_equal(valid_pairs(mes, 15.0, 60.0), [2])
    np.testing.assert_array_equal(valid_pairs(mes, 15.0, 44.0), [])  # after-epoch past the end


def test_onset_reaching_into_an_epoch_counts_and_blockers_block() -> None:
    # The neighbour's apex (13.3) is outside [7, 13] but its onset (12.9) is inside.
    mes = [_me(10.0), MEInterval(12.9, 13.3, 13.4)]
    assert 0 not in valid_pairs(mes, 3.0, 60.0)
    mes = [_me(10.0), _me(30.0)]
    np.testing.assert_array_equal(valid_pairs(mes, 3.0, 60.0, blockers=[(11.0, 12.5)]), [1])


# --- statistics --------------------------------------------------------------------------

def test_paired_row_values_by_hand() -> None:
    before = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    after = np.array([2.0, 3.0, 5.0, 5.0, 7.0])
    r = paired_row("X", 3.0, before, after, min_pairs=2)
    # Differences -1, -1, -2, -1: mean -1.25, sd 0.5, t = -1.25 / (0.5 / 2) = -5 on 3 df.
    assert r.n_pairs == 4 and r.tested
    assert r.t == pytest.approx(-5.0)
    assert r.p == pytest.approx(0.015392, abs=1e-6)
    assert r.significance == ""  # marks come from the corrected p only (with_fdr)
    assert (r.mean_before, r.mean_after) == (2.5, 3.75)
    assert r.sd_before == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    empty = paired_row("Y", 3.0, np.array([np.nan]), np.array([1.0]))
    assert empty.n_pairs == 0 and np.isnan(empty.p) and empty.significance == ""


def test_fewer_pairs_than_the_minimum_are_described_but_not_tested() -> None:
    assert MIN_PAIRS == 10
    rng = np.random.default_rng(0)
    before = rng.normal(0.0, 1.0, MIN_PAIRS - 1)
    few = paired_row("X", 3.0, before, before + 5.0)  # a huge shift, but 9 pairs
    assert few.n_pairs == 9 and not few.tested
    assert np.isnan(few.t) and np.isnan(few.p) and few.significance == ""
    assert few.mean_after - few.mean_before == pytest.approx(5.0)
    enough = paired_row("X", 3.0, np.append(before, 0.3), np.append(before + 5.0, 5.1))
    assert enough.n_pairs == 10 and enough.tested and enough.p < 1e-6


def _tested(p: float) -> ConcordanceRow:
    return ConcordanceRow("F", 3.0, 0.0, 1.0, 0.0, 1.0, 1.0, p, "", 12, tested=True)


def test_benjamini_hochberg_over_every_test_run_by_hand() -> None:
    # Sorted p 0.001, 0.01, 0.02, 0.04, 0.3 of m = 5 tests: p * m / rank = 0.005, 0.025,
    # 0.0333, 0.05, 0.3, then the running minimum from the largest down leaves them as is.
    p = [0.04, 0.001, 0.3, 0.02, 0.01]
    untested = replace(_tested(np.nan), p=np.nan, tested=False, n_pairs=3)
    rows = with_fdr([*(_tested(x) for x in p), untested])
    assert [r.p_fdr for r in rows[:5]] == pytest.approx([0.05, 0.005, 0.3, 1 / 30, 0.025])
    assert [r.significance for r in rows[:5]] == ["", "**", "", "*", "*"]
    assert np.isnan(rows[5].p_fdr) and rows[5].significance == ""  # not one of the m tests
    # Raw p 0.04 would get a star; corrected (0.05) it does not.
    # A running minimum: p 0.01 and 0.011 of m = 2 -> both 0.011.
    pair = with_fdr([_tested(0.01), _tested(0.011)])
    assert [r.p_fdr for r in pair] == pytest.approx([0.011, 0.011])


def test_significance_marks() -> None:
    assert [significance_marks(p) for p in (0.0005, 0.005, 0.03, 0.05, np.nan)] == [
        "***", "**", "*", "", ""]


# --- planted changes ---------------------------------------------------------------------

def _alpha_clip(drop: float, seed: int) -> ClipData:
    """4-channel EEG at 250 Hz: 10 Hz alpha (10 µV, ±10 % per event) plus noise; its
    amplitude is multiplied by `drop` for 3 s after each apex (every 20 s)."""
    rate, seconds = 250.0, 420.0
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    apexes = np.arange(20.0, seconds - 19.0, 20.0)
    amp = np.full(len(t), 10.0)
    for a in apexes:
        amp[(t >= a - 10.0) & (t < a + 10.0)] *= rng.uniform(0.9, 1.1)
        amp[(t >= a) & (t < a + 3.0)] *= drop
    alpha = amp * np.sin(2 * np.pi * 10.0 * t)
    eeg = alpha[:, None] + 2.0 * rng.standard_normal((len(t), 4))
    return ClipData(mes=[_me(a) for a in apexes], eeg=eeg, eeg_rate=rate,
                    eeg_labels=["O1", "OZ", "O2", "PZ"])


def test_planted_alpha_drop_after_apexes_is_significant() -> None:
    rows = concordance_table([_alpha_clip(0.5, seed=1)], lengths=(3.0, 15.0))
    r = _row(rows, "EEG_alpha_OZ_dB", 3.0)
    assert r.n_pairs == 20
    # Before: (10 µV)^2 / 2 = 50 µV² = 17 dB; after: amplitude halved, 6 dB lower.
    assert r.mean_before == pytest.approx(17.0, abs=0.5)
    assert r.mean_before - r.mean_after == pytest.approx(6.0, abs=0.7)
    assert r.t > 10 and r.p < 1e-6 and r.significance == "***"
    assert r.p_fdr < 0.001
    # 15 s epochs still fit between MEs 20 s apart; 3 s of 15 at a quarter of the power:
    # 10 log10(50 / 42.5) = 0.7 dB.
    r15 = _row(rows, "EEG_alpha_OZ_dB", 15.0)
    assert r15.n_pairs == 20
    assert r15.mean_before - r15.mean_after == pytest.approx(0.7, abs=0.3)
    # Only alpha was touched.
    assert _row(rows, "EEG_gamma_OZ_dB", 3.0).p > 0.01


def test_no_change_is_not_significant() -> None:
    clip = _alpha_clip(1.0, seed=1)
    # As recorded: the EEG stream carries a TRIGGER column, which is not EEG.
    clip.eeg = np.column_stack([clip.eeg, np.zeros(len(clip.eeg))])
    clip.eeg_labels = [*clip.eeg_labels, "TRIGGER"]
    rows = concordance_table([clip], lengths=(3.0,))
    assert not [r for r in rows if "TRIGGER" in r.feature]
    r = _row(rows, "EEG_alpha_OZ_dB", 3.0)
    assert r.n_pairs == 20
    assert abs(r.mean_before - r.mean_after) < 0.3
    assert r.p > 0.05 and r.significance == ""


def _sim_clip(params: PhysioParams) -> ClipData:
    sc = make_scenario(2, duration=360.0, micro_per_minute=6.0)
    x, labels, _ = simulate_physio(sc, params=params)
    keep = ("ECG", "SKT")  # enough to test; the rest only costs time
    mes = [MEInterval(e.onset, e.apex, e.offset) for e in sc.expressions if e.kind == "micro"]
    macro = [(e.onset, e.offset) for e in sc.expressions if e.kind == "macro"]
    return ClipData(mes=mes, physio={k: x[:, labels.index(k)] for k in keep},
                    blockers=macro)


def test_simulated_heart_rate_response_is_found_and_its_absence_is_not() -> None:
    rows = concordance_table([_sim_clip(PhysioParams())], lengths=(3.0, 5.0))
    r = _row(rows, "ECG_Rate_Mean", 3.0)
    assert r.n_pairs >= 12
    assert r.mean_after - r.mean_before > 1.0  # bpm; the simulator adds 3-6 bpm peaks
    assert r.t < 0 and r.p < 0.001
    assert {x.feature for x in rows} >= {"HRV_SDNN", "SKT_Mean"}
    flat = concordance_table([_sim_clip(PhysioParams(hr_response_prob=0.0))], lengths=(3.0,))
    r0 = _row(flat, "ECG_Rate_Mean", 3.0)
    assert r0.n_pairs == r.n_pairs
    # Without a response only drift is left (over seeds 1-12: mean +0.09 bpm, p 0.03-0.97,
    # as chance would have it); this seed's drift is +0.3 bpm.
    assert abs(r0.mean_after - r0.mean_before) < 0.5
    assert r0.p > 0.05 and r0.significance == ""


# --- layout and CSV ----------------------------------------------------------------------

def test_rows_follow_table_3_order_and_csv_round_trips(tmp_path: Path) -> None:
    rows = concordance_table([_alpha_clip(0.5, seed=2)], lengths=(5.0, 3.0))
    assert [(r.feature, r.epoch_s) for r in rows[:3]] == [
        ("EEG_delta_O1_dB", 3.0), ("EEG_delta_O1_dB", 5.0), ("EEG_delta_OZ_dB", 3.0)]
    assert len(rows) == 2 * 5 * 4
    path = tmp_path / "concordance.csv"
    write_concordance_csv(rows, path)
    with path.open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["feature", "epoch_s", "mean_before", "sd_before", "mean_after",
                              "sd_after", "t", "p", "significance", "n_pairs", "p_fdr",
                              "tested"]
    alpha = next(d for d in table if d["feature"] == "EEG_alpha_O2_dB" and d["epoch_s"] == "3")
    ref = _row(rows, "EEG_alpha_O2_dB", 3.0)
    assert float(alpha["t"]) == pytest.approx(ref.t, rel=1e-5)
    assert alpha["significance"] == "***" and int(alpha["n_pairs"]) == ref.n_pairs
