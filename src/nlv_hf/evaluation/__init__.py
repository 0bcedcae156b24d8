"""Evaluation over data sets (``nlv-hf eval``): thin CLI entry points over library functions."""
