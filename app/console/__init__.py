"""The experimenter's console (PyQt6)."""
