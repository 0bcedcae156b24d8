"""One sub-package per method family, each laid out like a transformers model folder."""
