"""Vocabulary every layer shares: the session clock, trigger codes, expressions, device data."""
