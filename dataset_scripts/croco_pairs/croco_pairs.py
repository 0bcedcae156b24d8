"""CroCo pretraining image pairs: a ``datasets.GeneratorBasedBuilder`` for the upstream on-disk format.

datasets 5 no longer runs loading scripts, so this file is a stable entry point to the builder, which lives in the
library (``nlv_hf.data.croco_pairs``) where the training recipe and the tests use the very same code::

    from croco_pairs import CroCoPairs            # or: from nlv_hf.data.croco_pairs import CroCoPairs
    builder = CroCoPairs(data_dir="data/habitat_release")
    builder.download_and_prepare()
    train = builder.as_dataset(split="train")     # {"pair_id", "image_1", "image_2"}
    stream = builder.as_streaming_dataset(split="train")

See README.md (the dataset card) for the accepted layouts.
"""

from nlv_hf.data.croco_pairs import CroCoPairs, find_pairs

__all__ = ["CroCoPairs", "find_pairs"]
