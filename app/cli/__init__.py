"""The `melab` command line."""
