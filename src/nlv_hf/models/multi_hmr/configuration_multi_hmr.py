"""Configuration of Multi-HMR (whole-body multi-person human mesh recovery, SMPL-X or Anny body model)."""

from __future__ import annotations

from transformers import PreTrainedConfig

BODY_MODELS = ("smplx", "anny")
PERSON_CENTERS = ("head",)

# Per body model: (decoder width, depth, heads, head dim, MLP width, num_betas) of the released heads.
_DECODER_DEFAULTS = {
    "smplx": dict(decoder_hidden_size=1024, decoder_num_hidden_layers=2, decoder_num_attention_heads=8,
                  decoder_head_dim=32, decoder_intermediate_size=1024, num_betas=10),
    "anny": dict(decoder_hidden_size=512, decoder_num_hidden_layers=8, decoder_num_attention_heads=16,
                 decoder_head_dim=32, decoder_intermediate_size=2048, num_betas=11),
}


class MultiHMRConfig(PreTrainedConfig):
    r"""Configuration of a Multi-HMR model (ECCV 2024, naver/multi-hmr).

    A DINOv2 ViT (patch 14) encodes a square image; a per-patch heatmap detects people by the patch holding their
    head; a cross-attention "Human Prediction Head" with one query per detected person regresses the body-model
    parameters, a 2D offset and a depth. A checkpoint is tied to its resolution (learned per-row/column tables).

    Args:
        body_model (`str`, defaults to "smplx"): ``"smplx"`` (upstream ``model.Model``: known intrinsics, camera-ray
            embedding) or ``"anny"`` (upstream ``multi_hmr_anny.Multi_HMR``: regresses the field of view).
        image_size (`int`, defaults to 896): side of the square input, a multiple of ``patch_size``.
        patch_size (`int`, defaults to 14).
        hidden_size / num_hidden_layers / num_attention_heads (defaults 1024 / 24 / 16 = ViT-L): the DINOv2 backbone
            (ViT-S 384/12/6, ViT-B 768/12/12, ViT-L 1024/24/16, ViT-H 1280/32/16).
        mlp_ratio (`int`, defaults to 4), layer_norm_eps (`float`, defaults to 1e-6), layerscale_value
            (`float`, defaults to 1.0), qkv_bias (`bool`, defaults to True): backbone details.
        decoder_hidden_size, decoder_num_hidden_layers, decoder_num_attention_heads, decoder_head_dim,
            decoder_intermediate_size: the HPH transformer (SMPL-X: 1024/2/8/32/1024, hard-coded upstream; Anny:
            ``xat_*`` arguments, class defaults 512/8/16/32/2048). ``None`` takes the body model's default.
        num_betas (`int`): shape coefficients (SMPL-X: 10 or 11; Anny: 11 phenotypes). ``None`` -> default.
        num_expression_coeffs (`int`, defaults to 10): SMPL-X expression coefficients.
        camera_embedding_num_bands (`int`, defaults to 16), camera_embedding_max_resolution (`int`, defaults to
            64): Fourier encoding of the camera rays (SMPL-X only).
        person_center (`str`, defaults to "head"): the joint a detection stands for.
        normalization_fov (`float`, defaults to 60.0): the depth is regressed as log-depth normalised to a camera
            of this field of view over the input (SMPL-X only).
        max_depth (`float`, defaults to 50.0): depths are clamped to [0, max_depth] metres (SMPL-X; upstream's
            ``clip_dist`` is always on).
        detection_threshold (`float`, defaults to 0.3), nms_kernel_size (`int`, defaults to 3): defaults of the
            detection rule (max-pool "NMS", then score >= threshold).
        default_fov (`float`, defaults to 60.0): field of view assumed by the processor when no intrinsics are given.
        smplx_path (`str`, optional): folder or file of the licensed SMPL-X model (else ``$NLV_SMPLX_DIR`` /
            ``$SMPLX_DIR``); only needed for meshes.
    """

    model_type = "multi_hmr"

    def __init__(
        self,
        body_model="smplx",
        image_size=896,
        patch_size=14,
        num_channels=3,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        mlp_ratio=4,
        layer_norm_eps=1e-6,
        layerscale_value=1.0,
        qkv_bias=True,
        decoder_hidden_size=None,
        decoder_num_hidden_layers=None,
        decoder_num_attention_heads=None,
        decoder_head_dim=None,
        decoder_intermediate_size=None,
        num_betas=None,
        num_expression_coeffs=10,
        camera_embedding_num_bands=16,
        camera_embedding_max_resolution=64,
        person_center="head",
        normalization_fov=60.0,
        max_depth=50.0,
        detection_threshold=0.3,
        nms_kernel_size=3,
        default_fov=60.0,
        smplx_path=None,
        initializer_range=0.02,
        **kwargs,
    ):
        if body_model not in BODY_MODELS:
            raise ValueError(f"body_model must be one of {BODY_MODELS}, got {body_model!r}")
        self.body_model = body_model
        defaults = _DECODER_DEFAULTS[body_model]
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.mlp_ratio = int(mlp_ratio) if isinstance(mlp_ratio, float) and mlp_ratio.is_integer() else mlp_ratio
        self.layer_norm_eps = layer_norm_eps
        self.layerscale_value = layerscale_value
        self.qkv_bias = qkv_bias
        given = dict(decoder_hidden_size=decoder_hidden_size, decoder_num_hidden_layers=decoder_num_hidden_layers,
                     decoder_num_attention_heads=decoder_num_attention_heads, decoder_head_dim=decoder_head_dim,
                     decoder_intermediate_size=decoder_intermediate_size, num_betas=num_betas)
        for name, value in given.items():
            setattr(self, name, defaults[name] if value is None else value)
        self.num_expression_coeffs = num_expression_coeffs
        self.camera_embedding_num_bands = camera_embedding_num_bands
        self.camera_embedding_max_resolution = camera_embedding_max_resolution
        self.person_center = person_center
        self.normalization_fov = normalization_fov
        self.max_depth = max_depth
        self.detection_threshold = detection_threshold
        self.nms_kernel_size = nms_kernel_size
        self.default_fov = default_fov
        self.smplx_path = smplx_path
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
        self.validate_multi_hmr()

    def validate_multi_hmr(self):
        for name in ("image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "mlp_ratio", "decoder_hidden_size", "decoder_num_hidden_layers",
                     "decoder_num_attention_heads", "decoder_head_dim", "decoder_intermediate_size", "num_betas",
                     "num_expression_coeffs", "camera_embedding_num_bands", "nms_kernel_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size ({self.image_size}) must be a multiple of patch_size ({self.patch_size})")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                             f"({self.num_attention_heads})")
        if self.body_model == "smplx" and self.num_betas not in (10, 11):
            raise ValueError(f"SMPL-X Multi-HMR uses num_betas 10 or 11, got {self.num_betas}")
        if self.body_model == "anny":
            if self.num_betas != 11:
                raise ValueError(
                    f"Multi-HMR-Anny regresses the 11 Anny phenotypes (num_betas=11), got {self.num_betas}")
            if self.decoder_hidden_size % 4:
                raise ValueError(f"Anny decoder_hidden_size must be divisible by 4 (2D sin-cos table), got "
                                 f"{self.decoder_hidden_size}")
        if self.person_center not in PERSON_CENTERS:
            raise ValueError(f"person_center must be one of {PERSON_CENTERS}, got {self.person_center!r}")
        if not (isinstance(self.detection_threshold, (int, float)) and 0.0 <= self.detection_threshold <= 1.0):
            raise ValueError(f"detection_threshold must be in [0, 1], got {self.detection_threshold!r}")
        for name in ("normalization_fov", "default_fov"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < 180):
                raise ValueError(f"{name} must be in (0, 180) degrees, got {value!r}")
        if not (isinstance(self.max_depth, (int, float)) and self.max_depth > 0):
            raise ValueError(f"max_depth must be > 0, got {self.max_depth!r}")

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_rotations(self) -> int:
        return 53 if self.body_model == "smplx" else 163

    @property
    def camera_embedding_dim(self) -> int:
        return 3 + 2 * 3 * self.camera_embedding_num_bands if self.body_model == "smplx" else 0

    def backbone_config(self):
        from transformers import Dinov2Config

        config = Dinov2Config(
            hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, mlp_ratio=self.mlp_ratio,
            layer_norm_eps=self.layer_norm_eps, layerscale_value=self.layerscale_value, qkv_bias=self.qkv_bias,
            image_size=self.image_size, patch_size=self.patch_size, num_channels=self.num_channels,
            initializer_range=self.initializer_range,
        )
        config._attn_implementation = self._attn_implementation
        return config
