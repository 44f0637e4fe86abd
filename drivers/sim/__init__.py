"""Simulated lab: deterministic face, EEG, physiology, clocks and scenarios."""
