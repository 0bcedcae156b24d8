from .configuration_multi_hmr import MultiHMRConfig
from .modeling_multi_hmr import (
    MultiHMRForMeshRecovery,
    MultiHMRMeshRecoveryOutput,
    MultiHMRModel,
    MultiHMRModelOutput,
    MultiHMRPreTrainedModel,
)

__all__ = ["MultiHMRConfig", "MultiHMRForMeshRecovery", "MultiHMRMeshRecoveryOutput", "MultiHMRModel",
           "MultiHMRModelOutput", "MultiHMRPreTrainedModel"]
