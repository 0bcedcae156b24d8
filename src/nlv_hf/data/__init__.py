"""Data utilities: file formats, visualisation, procedural data generators and dataset-builder helpers."""
