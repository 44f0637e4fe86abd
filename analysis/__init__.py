"""Offline analysis: face, features, concordance, spotting, recognition, reports."""


class AnalysisCancelled(RuntimeError):
    """The user cancelled the analysis (analysis.pipeline.analyze's cancel event was set)."""


class AnalysisFailed(RuntimeError):
    """Some tasks failed (each named); the other sessions' results were kept for --resume."""
