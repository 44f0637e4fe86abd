"""The participant's and the reminder screens (PyQt6)."""
