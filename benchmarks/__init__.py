"""Reproducible measurements of the provider, each with its baseline measured in the same run."""
