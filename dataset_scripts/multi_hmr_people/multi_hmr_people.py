"""Multi-HMR training annotations (BEDLAM npz, upstream preprocessed pickle): a ``datasets.GeneratorBasedBuilder``.

datasets 5 no longer runs loading scripts, so this file is a stable entry point to the builder, which lives in the
library (``nlv_hf.data.multi_hmr_people``) where the ``multi-hmr`` training recipe and the tests use the same code::

    from multi_hmr_people import MultiHMRPeople, SMPLXPeopleTransform
    builder = MultiHMRPeople(data_dir="/data/bedlam", config_name="bedlam_npz")   # or "multihmr_pickle" / "auto"
    builder.download_and_prepare()
    train = builder.as_dataset(split="train")        # {"id", "image", "rotation", "focal", "principal_point",
                                                     #  "smplx_pose", "smplx_shape", "smplx_transl"}
    record = SMPLXPeopleTransform("/models/smplx")(train[0])   # GT meshes/joints/centres with SMPL-X

Training: ``nlv-hf train multi-hmr --body_model smplx --data_dir /data/bedlam --smplx_path /models/smplx …``.
See README.md (the dataset card) for the accepted layouts.
"""

from nlv_hf.data.multi_hmr_people import FORMATS, MultiHMRPeople, SMPLXPeopleTransform, find_examples

__all__ = ["FORMATS", "MultiHMRPeople", "SMPLXPeopleTransform", "find_examples"]
