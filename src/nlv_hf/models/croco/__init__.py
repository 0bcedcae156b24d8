from .configuration_croco import CroCoConfig
from .configuration_croco_stereo_flow import CroCoFlowConfig, CroCoStereoConfig, CroCoStereoFlowConfig
from .modeling_croco import (
    CroCoForPretraining,
    CroCoForPretrainingOutput,
    CroCoModel,
    CroCoModelOutput,
    CroCoPreTrainedModel,
    masked_patch_mse_loss,
)
from .modeling_croco_stereo_flow import (
    CroCoForOpticalFlow,
    CroCoForStereoMatching,
    CroCoStereoFlowOutput,
    CroCoStereoFlowPreTrainedModel,
)

__all__ = ["CroCoConfig", "CroCoFlowConfig", "CroCoForOpticalFlow", "CroCoForPretraining", "CroCoForPretrainingOutput",
           "CroCoForStereoMatching", "CroCoModel", "CroCoModelOutput", "CroCoPreTrainedModel", "CroCoStereoConfig",
           "CroCoStereoFlowConfig", "CroCoStereoFlowOutput", "CroCoStereoFlowPreTrainedModel", "masked_patch_mse_loss"]
