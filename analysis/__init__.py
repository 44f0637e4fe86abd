"""Offline analysis: face, features, concordance, spotting, recognition, reports."""


class AnalysisCancelled(RuntimeError):
    """The user cancelled the analysis (analysis.pipeline.analyze's cancel event was set)."""
