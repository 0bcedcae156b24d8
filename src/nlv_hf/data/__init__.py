"""Procedural and synthetic data generators shared by tests, demos and training."""
