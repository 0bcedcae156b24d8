"""Training recipes (``nlv-hf train <recipe>``) and the shared pieces they are built from (:mod:`.recipe`)."""
