"""The one table of nlv_hf models and their transformers Auto classes.

It drives both the in-library registration (``import nlv_hf``) and the ``auto_map`` written into exported folders for
``trust_remote_code=True`` loading, so the two can never disagree.
"""

from __future__ import annotations

_DONE = False


def auto_classes() -> dict[str, dict]:
    """model_type -> {"config": cls, "image_processor": cls | None, "<AutoClassName>": model cls, ...}."""
    from .models.croco import CroCoConfig, CroCoForPretraining, CroCoModel
    from .models.croco.configuration_croco_stereo_flow import CroCoFlowConfig, CroCoStereoConfig
    from .models.croco.image_processing_croco import CroCoImageProcessor
    from .models.croco.modeling_croco_stereo_flow import CroCoForOpticalFlow, CroCoForStereoMatching
    from .models.multi_hmr import MultiHMRConfig, MultiHMRModel
    from .models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor

    return {
        "croco": {
            "config": CroCoConfig,
            "image_processor": CroCoImageProcessor,
            "AutoModel": CroCoModel,
            "AutoModelForPreTraining": CroCoForPretraining,
        },
        "croco_stereo": {
            "config": CroCoStereoConfig,
            "image_processor": CroCoImageProcessor,
            "AutoModel": CroCoForStereoMatching,
        },
        "croco_flow": {
            "config": CroCoFlowConfig,
            "image_processor": CroCoImageProcessor,
            "AutoModel": CroCoForOpticalFlow,
        },
        "multi_hmr": {
            "config": MultiHMRConfig,
            "image_processor": MultiHMRImageProcessor,
            "AutoModel": MultiHMRModel,
        },
    }


def register_auto_classes() -> None:
    global _DONE
    if _DONE:
        return
    import transformers
    from transformers import AutoConfig, AutoImageProcessor

    for model_type, entry in auto_classes().items():
        config = entry["config"]
        AutoConfig.register(model_type, config, exist_ok=True)
        for auto_name, model_cls in entry.items():
            if auto_name.startswith("Auto"):
                getattr(transformers, auto_name).register(config, model_cls, exist_ok=True)
        if entry.get("image_processor") is not None:
            AutoImageProcessor.register(config, image_processor_classes={"pil": entry["image_processor"]},
                                        exist_ok=True)
    _DONE = True
