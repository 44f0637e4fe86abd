"""Offline writers of simulated sessions (datasets with ground truth, sync test sessions)."""
