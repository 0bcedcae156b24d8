"""nlv_hf: NAVER LABS Europe research models as first-class Hugging Face citizens.

Importing the package registers every model with the transformers Auto classes::

    import nlv_hf
    from transformers import AutoModel
    model = AutoModel.from_pretrained("naver/croco-v2-vitl-base")
"""

from ._registration import register_auto_classes
from .models.croco import CroCoConfig, CroCoForPretraining, CroCoModel
from .models.croco.configuration_croco_stereo_flow import CroCoFlowConfig, CroCoStereoConfig
from .models.croco.image_processing_croco import CroCoImageProcessor
from .models.croco.modeling_croco_stereo_flow import CroCoForOpticalFlow, CroCoForStereoMatching
from .models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery, MultiHMRModel
from .models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor

__version__ = "0.1.0"

register_auto_classes()

__all__ = [
    "CroCoConfig", "CroCoFlowConfig", "CroCoForOpticalFlow", "CroCoForPretraining", "CroCoForStereoMatching",
    "CroCoImageProcessor", "CroCoModel", "CroCoStereoConfig", "MultiHMRConfig", "MultiHMRForMeshRecovery",
    "MultiHMRImageProcessor", "MultiHMRModel", "register_auto_classes",
]
