"""Data: procedural generators, pair augmentations and collators shared by tests, demos and training."""
