from .configuration_croco import CroCoConfig
from .modeling_croco import (
    CroCoForPretraining,
    CroCoForPretrainingOutput,
    CroCoModel,
    CroCoModelOutput,
    CroCoPreTrainedModel,
    masked_patch_mse_loss,
)

__all__ = ["CroCoConfig", "CroCoForPretraining", "CroCoForPretrainingOutput", "CroCoModel", "CroCoModelOutput",
           "CroCoPreTrainedModel", "masked_patch_mse_loss"]
