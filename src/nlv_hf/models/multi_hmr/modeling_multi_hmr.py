"""Multi-HMR: multi-person whole-body human mesh recovery from a single image (Baradel et al., ECCV 2024).

Two released variants share the layout (DINOv2 ViT -> per-patch person-centre heatmap -> cross-attention "Human
Prediction Head" with one query per detected person -> body-model parameters, 2D offset and depth):

* ``body_model="smplx"`` (upstream ``model.Model``): the camera intrinsics are an input (rays are Fourier-encoded and
  concatenated to the patch features), SMPL-X pose (53 x 6D), shape, expression and a log-depth normalised by the
  focal length are regressed; the mesh comes from the licensed SMPL-X model through ``smplx``.
* ``body_model="anny"`` (upstream ``multi_hmr_anny.Multi_HMR``): the field of view is regressed from the CLS token
  (intrinsics are optional), the head regresses 163 Anny bone rotations and 11 phenotypes; the mesh comes from
  ``anny``.

People are batched across images and per image: queries are padded to the largest number of people in the batch and
masked in self-attention, with no Python loop over people.

Upstream quirks that change outputs are reproduced on purpose (each is marked ``# upstream quirk``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import Dinov2Model, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from nlv_hf.body.anny_model import AnnyBodyModel
from nlv_hf.body.camera import (
    focal_from_fov,
    intrinsics_from_fov,
    inverse_perspective_projection,
    perspective_projection,
)
from nlv_hf.body.rotations import rot6d_to_rotmat, rotmat_to_rotvec, rotvec_to_rotmat
from nlv_hf.body.smplx_model import SMPLXBodyModel
from nlv_hf.layers.attention import eager_attention_forward
from nlv_hf.layers.pos_embed import get_2d_sincos_pos_embed

from .configuration_multi_hmr import MultiHMRConfig
from .loss_multi_hmr import MESH_TERMS, UPSTREAM_LOSS_WEIGHTS, detection_focal_loss, multi_hmr_losses

# Bones of the Anny rig that Multi-HMR-Anny drives; the others are forced to the identity (upstream constant).
ANNY_USEFUL_BONES = (
    "111111100000000000" "000111111000000000" "000001111001111111" "111111111111111111" "111111111111111111"
    "111111111111111000" "000000000000000000" "000000000000000000" "000000000000000000" "0"
)
# Index of the person-centre joint in each body model's joint list ("head").
PERSON_CENTER_INDEX = {"smplx": {"head": 15}, "anny": {"head": 103}}


# ----------------------------------------------------------------------------------------------------- outputs
@dataclass
class MultiHMRModelOutput(ModelOutput):
    """Per-image maps and per-person regressions. Persons are flattened over the batch in detection order
    (image, then row-major patch order); ``detections[:, 0]`` gives each person's image.

    Args:
        last_hidden_state (`(B, N, C)`): backbone patch tokens (final LayerNorm, no CLS token).
        pooler_output (`(B, C)`): the backbone CLS token.
        scores (`(B, H, W)`): person-centre probability of every patch (before NMS).
        detection_logits (`(B, H, W)`): the logits behind ``scores``.
        detections (`(P, 3)` int64): (image, row, column) of each detected person centre.
        detection_scores (`(P,)`).
        intrinsics (`(B, 3, 3)`): the camera used (given, default or regressed).
        regressed_intrinsics / fov (`(B, 3, 3)` / `(B, 1)` radians): the Anny head's camera estimate.
        offset (`(P, 2)`): sub-patch offset of the centre, in patches.
        (Camera geometry -- intrinsics, centres, depths, translations, rotations -- is float32 whatever the model dtype.)
        centers_2d (`(P, 2)`): centre (head) pixel position (x, y) in the model input.
        depth_raw (`(P, 1)`): the regressed depth code (upstream ``dist_postprocessed``).
        depth (`(P, 1)`): metric depth of the centre (m).
        translation (`(P, 3)`): camera-space position of the centre joint (m).
        rotmat (`(P, R, 3, 3)`), rotvec (`(P, R, 3)`): body-model rotations (SMPL-X: global, 21 body, 15+15 hands,
            jaw; Anny: 163 bones).
        betas (`(P, num_betas)`): SMPL-X shape, or the 11 Anny phenotypes in [0, 1].
        expression (`(P, 10)`): SMPL-X expression (None for Anny).
        hidden_states: backbone hidden states when requested.
    """

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    detection_logits: torch.Tensor | None = None
    detections: torch.Tensor | None = None
    detection_scores: torch.Tensor | None = None
    intrinsics: torch.Tensor | None = None
    regressed_intrinsics: torch.Tensor | None = None
    fov: torch.Tensor | None = None
    offset: torch.Tensor | None = None
    centers_2d: torch.Tensor | None = None
    depth_raw: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    translation: torch.Tensor | None = None
    rotmat: torch.Tensor | None = None
    rotvec: torch.Tensor | None = None
    betas: torch.Tensor | None = None
    expression: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass
class MultiHMRMeshRecoveryOutput(MultiHMRModelOutput):
    """:class:`MultiHMRModelOutput` plus the posed meshes (camera space, metres; projections in input pixels).

    Args:
        loss: training loss when ``labels`` are given; loss_terms: its unweighted terms (regression labels).
        vertices (`(P, V, 3)`), joints_3d (`(P, J, 3)`), vertices_2d (`(P, V, 2)`), joints_2d (`(P, J, 2)`),
        translation_pelvis (`(P, 3)`): pelvis (joint 0) position; blendshape_coeffs: Anny's blend-shape weights.
    """

    loss: torch.Tensor | None = None
    loss_terms: dict | None = None
    vertices: torch.Tensor | None = None
    joints_3d: torch.Tensor | None = None
    vertices_2d: torch.Tensor | None = None
    joints_2d: torch.Tensor | None = None
    translation_pelvis: torch.Tensor | None = None
    blendshape_coeffs: torch.Tensor | None = None


# ------------------------------------------------------------------------------------------------ helpers
def regression_mlp(in_features: int, hidden: int, out_features: int) -> nn.Sequential:
    """Linear-ReLU-Linear (state-dict keys ``0.*`` and ``2.*`` as upstream)."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features))


def suppress_non_maxima(scores: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """CenterNet-style "NMS": zero every score that is not the maximum of its ``k x k`` neighbourhood (ties keep
    every maximum). ``scores`` (B, H, W)."""
    if kernel_size <= 1:
        return scores
    k = kernel_size
    pad = k // 2 if k in (2, 4) else (k - 1) // 2  # upstream padding rule (even kernels are cropped back)
    hmax = nn.functional.max_pool2d(scores[:, None], (k, k), stride=1, padding=pad)[:, 0]
    hmax = hmax[:, : scores.shape[1], : scores.shape[2]]
    return scores * (hmax == scores).to(scores.dtype)


def detect_people(scores: torch.Tensor, threshold: float, nms_kernel_size: int) -> torch.Tensor:
    """Upstream detection rule: local maxima (:func:`suppress_non_maxima`) with a score ``>= threshold``.
    ``scores`` (B, H, W) -> (P, 3) int64 (image, row, column) in row-major order; no cap on the number of people."""
    return torch.nonzero(suppress_non_maxima(scores, nms_kernel_size) >= threshold)


def pad_people(values: torch.Tensor, detections: torch.Tensor, batch_size: int):
    """Scatter per-person rows (P, ...) into (B, P_max, ...) with a (B, P_max) bool mask, plus each person's slot."""
    image = detections[:, 0]
    counts = torch.bincount(image, minlength=batch_size)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(image.shape[0], device=image.device) - starts[image]
    max_people = max(int(counts.max()), 1) if image.numel() else 1
    padded = values.new_zeros((batch_size, max_people) + tuple(values.shape[1:]))
    padded = padded.index_put((image, slot), values)
    mask = torch.zeros(batch_size, max_people, dtype=torch.bool, device=values.device)
    mask = mask.index_put((image, slot), torch.ones_like(image, dtype=torch.bool))
    return padded, mask, slot


def camera_ray_embedding(intrinsics: torch.Tensor, grid: int, patch_size: int, num_bands: int,
                         max_resolution: int) -> torch.Tensor:
    """Fourier encoding of the viewing ray of every patch centre: (B, 3, 3) -> (B, grid, grid, 3 + 6 * num_bands).

    Channels: the ray (z = 1), then sin and cos of ``pi * ray_d * f_k`` with ``f_k = linspace(1, max_res / 2,
    num_bands)``, flattened dimension-major."""
    intrinsics = intrinsics.float()  # pixel coordinates up to ~1300 need float32 (bf16 is exact only to 256)
    device, dtype = intrinsics.device, intrinsics.dtype
    index = torch.arange(grid, device=device, dtype=dtype)
    rows, cols = torch.meshgrid(index, index, indexing="ij")
    # upstream quirk: the *row* index is fed as the first (x) pixel coordinate, so x/y are transposed
    points = torch.stack([rows, cols], dim=-1).reshape(1, -1, 2) * patch_size + patch_size // 2
    points = points.expand(intrinsics.shape[0], -1, -1)
    rays = inverse_perspective_projection(points, intrinsics, torch.ones_like(points[..., :1]))
    freqs = torch.linspace(1.0, max_resolution / 2, num_bands, device=device, dtype=dtype)
    features = (rays[..., None] * freqs).flatten(-2)
    encoded = torch.cat([rays, torch.sin(math.pi * features), torch.cos(math.pi * features)], dim=-1)
    return encoded.reshape(intrinsics.shape[0], grid, grid, -1)


def _key_padding_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, P) bool -> additive (B, 1, P, P) mask: each query sees the valid people of its image (and itself, so a
    padded query never has an empty row)."""
    allowed = mask[:, None, :] | torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)[None]
    return torch.zeros(allowed.shape, dtype=dtype, device=mask.device).masked_fill(
        ~allowed, torch.finfo(dtype).min)[:, None]


# ------------------------------------------------------------------------------------- HPH transformer layers
class MultiHMRAttention(nn.Module):
    """Multi-head attention with explicit head width (``heads * head_dim`` may differ from ``dim``), no q/k/v bias;
    self-attention (``to_qkv``) or cross-attention (``to_q`` + ``to_kv`` from ``context_dim``). The kernel comes from
    ``config._attn_implementation`` through the transformers attention interface."""

    def __init__(self, config, dim: int, heads: int, head_dim: int, context_dim: int | None = None):
        super().__init__()
        self.config = config
        self.num_heads, self.head_dim = heads, head_dim
        self.scaling = head_dim**-0.5
        self.is_causal = False
        self.is_cross = context_dim is not None
        inner = heads * head_dim
        if self.is_cross:
            self.to_q = nn.Linear(dim, inner, bias=False)
            self.to_kv = nn.Linear(context_dim, 2 * inner, bias=False)
        else:
            self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim) if not (heads == 1 and head_dim == dim) else nn.Identity()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states, context=None, attention_mask=None):
        if self.is_cross:
            q = self.to_q(hidden_states)
            k, v = self.to_kv(context).chunk(2, dim=-1)
        else:
            q, k, v = self.to_qkv(hidden_states).chunk(3, dim=-1)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        interface = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, eager_attention_forward)
        out, _ = interface(self, q, k, v, attention_mask, scaling=self.scaling, dropout=0.0)
        return self.to_out(out.reshape(out.shape[0], out.shape[1], -1))


class MultiHMRFeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MultiHMRDecoderLayer(GradientCheckpointingLayer):
    """Pre-norm self-attention among the people of an image, cross-attention to the image tokens, MLP; all
    residual (HMR2.0 / 4D-Humans ``TransformerCrossAttn`` layout)."""

    def __init__(self, config: MultiHMRConfig, context_dim: int):
        super().__init__()
        dim, heads, head_dim = config.decoder_hidden_size, config.decoder_num_attention_heads, config.decoder_head_dim
        self.self_attn_norm = nn.LayerNorm(dim)
        self.self_attn = MultiHMRAttention(config, dim, heads, head_dim)
        self.cross_attn_norm = nn.LayerNorm(dim)
        self.cross_attn = MultiHMRAttention(config, dim, heads, head_dim, context_dim=context_dim)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = MultiHMRFeedForward(dim, config.decoder_intermediate_size)

    def forward(self, queries, context, self_attention_mask):
        queries = queries + self.self_attn(self.self_attn_norm(queries), attention_mask=self_attention_mask)
        queries = queries + self.cross_attn(self.cross_attn_norm(queries), context=context)
        return queries + self.mlp(self.mlp_norm(queries))


class MultiHMRDecoder(nn.Module):
    def __init__(self, config: MultiHMRConfig, context_dim: int):
        super().__init__()
        self.layers = nn.ModuleList(
            [MultiHMRDecoderLayer(config, context_dim) for _ in range(config.decoder_num_hidden_layers)])

    def forward(self, queries, context, mask):
        """queries (B, P_max, D), context (B, N, C), mask (B, P_max) -> (B, P_max, D); padded rows are zeroed.

        Upstream also zeroes padded rows before each layer and masks them in cross-attention; neither changes the
        valid rows, which only ever attend to valid rows."""
        attention_mask = _key_padding_mask(mask, queries.dtype)
        for layer in self.layers:
            queries = layer(queries, context, attention_mask)
        return queries * mask[..., None].to(queries.dtype)


# --------------------------------------------------------------------------------------------------- heads
class MultiHMRSMPLXHead(nn.Module):
    """Detection, offset and the Human Prediction Head of the SMPL-X model (upstream ``Model`` + ``HPH``)."""

    def __init__(self, config: MultiHMRConfig):
        super().__init__()
        c, g = config.hidden_size, config.grid_size
        context_dim = c + config.camera_embedding_dim
        dim = config.decoder_hidden_size
        npose = 6 * config.num_rotations
        self.config = config
        self.mlp_classif = regression_mlp(c, c, 1)
        self.mlp_offset = regression_mlp(c, c, 2)
        # learned per-row / per-column embeddings added to queries and to the context at detected cells
        self.cross_queries_x = nn.Parameter(torch.zeros(g, context_dim))
        self.cross_queries_y = nn.Parameter(torch.zeros(g, context_dim))
        self.cross_values_x = nn.Parameter(torch.zeros(g, context_dim))
        self.cross_values_y = nn.Parameter(torch.zeros(g, context_dim))
        identity = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])  # identity in the "rows" 6D layout
        self.register_buffer("init_body_pose", identity.repeat(config.num_rotations)[None].clone())
        self.register_buffer("init_betas", torch.zeros(1, config.num_betas))
        self.register_buffer("init_cam", torch.zeros(1, 3))
        self.register_buffer("init_expression", torch.zeros(1, config.num_expression_coeffs))
        self.token_embedding = nn.Linear(context_dim + npose + config.num_betas + 3, dim)
        self.pos_embedding = nn.Parameter(torch.zeros(1, 1, dim))
        self.decoder = MultiHMRDecoder(config, context_dim)
        self.decpose = nn.Linear(dim, npose)
        self.decshape = nn.Linear(dim, config.num_betas)
        self.deccam = nn.Linear(dim, 3)
        self.decexpression = nn.Linear(dim, config.num_expression_coeffs)

    def detection(self, features: torch.Tensor):
        logits = self.mlp_classif(features)[..., 0]
        scores = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)  # upstream clamps the probabilities
        return logits, scores

    def predict(self, x_central: torch.Tensor, context: torch.Tensor, detections: torch.Tensor) -> dict:
        """The Human Prediction Head proper: queries ``x_central`` (P, C') (patch feature + ray embedding, learned
        row/column query embeddings already added), ``context`` (B, N, C') per image (with the learned value
        embeddings at detected cells) -> rotmat (P, 53, 3, 3), betas, cam (P, 3) and expression."""
        config = self.config
        queries, mask, slot = pad_people(x_central, detections, context.shape[0])
        inits = [self.init_body_pose, self.init_betas, self.init_cam]
        token = torch.cat([queries] + [t.to(queries.dtype).expand(*queries.shape[:2], -1) for t in inits], dim=-1)
        token = self.token_embedding(token) + self.pos_embedding[:, 0][:, None]
        out = self.decoder(token, context, mask)[detections[:, 0], slot]
        pose6d = self.decpose(out) + self.init_body_pose
        rotmat = rot6d_to_rotmat(pose6d.float().reshape(out.shape[0], config.num_rotations, 6), layout="rows")
        return dict(rotmat=rotmat, betas=self.decshape(out) + self.init_betas, cam=self.deccam(out) + self.init_cam,
                    expression=self.decexpression(out) + self.init_expression)

    def forward(self, features, cls_token, intrinsics, detections, image_size: int) -> dict:
        config = self.config
        b, h, w, _ = features.shape
        img, row, col = detections.unbind(-1)
        z_central = features[img, row, col]
        offset = self.mlp_offset(z_central)
        rays = camera_ray_embedding(intrinsics, h, config.patch_size, config.camera_embedding_num_bands,
                                    config.camera_embedding_max_resolution).to(features.dtype)
        x_central = torch.cat([z_central, rays[img, row, col]], dim=-1)
        # upstream quirk: the "x" tables are indexed by the row, the "y" tables by the column
        x_central = x_central + self.cross_queries_x[row] + self.cross_queries_y[col]
        context = torch.cat([features, rays], dim=-1)
        context = context.index_put((img, row, col), self.cross_values_x[row] + self.cross_values_y[col],
                                    accumulate=True).flatten(1, 2)
        people = self.predict(x_central, context, detections)
        rotmat, betas, cam, expression = people["rotmat"], people["betas"], people["cam"], people["expression"]
        rotvec = rotmat_to_rotvec(rotmat)

        centers_2d = (torch.stack([col, row], dim=-1).float() + 0.5 + offset.float()) * config.patch_size
        k_people = intrinsics[img]
        depth_raw = cam[:, :1].float()
        # log-depth normalised to a camera of `normalization_fov` over the input; upstream clamping is always on
        f_norm = focal_from_fov(config.normalization_fov, image_size)
        depth = torch.exp(depth_raw * (k_people[:, 0, 0:1] / f_norm)) - 1e-10
        depth = depth.clamp(0, config.max_depth)
        translation = inverse_perspective_projection(centers_2d[:, None], k_people, depth[:, None])[:, 0]
        return dict(offset=offset, centers_2d=centers_2d, depth_raw=depth_raw, depth=depth, translation=translation,
                    rotmat=rotmat, rotvec=rotvec, betas=betas, expression=expression)


class MultiHMRAnnyHead(nn.Module):
    """Detection, field of view, and the Human Prediction Head of Multi-HMR-Anny (upstream ``Multi_HMR``)."""

    def __init__(self, config: MultiHMRConfig):
        super().__init__()
        c, dim = config.hidden_size, config.decoder_hidden_size
        self.config = config
        self.mlp_det = regression_mlp(c, c, 1)
        self.mlp_fov = regression_mlp(c, c, 1)
        self.register_buffer("fov_max", torch.tensor([math.pi]))
        self.dec_to_token = nn.Linear(c, dim)
        self.register_buffer("dec_pos_emb", get_2d_sincos_pos_embed(dim, config.grid_size))
        self.decoder = MultiHMRDecoder(config, dim)
        n = config.num_rotations
        self.mlp_offset = regression_mlp(dim, dim, 2)
        self.mlp_pose = regression_mlp(dim + 6 * n, dim, 6 * n)
        self.mlp_shape = regression_mlp(dim, dim, config.num_betas)
        self.mlp_dist = regression_mlp(dim, dim, 1)
        root = rotvec_to_rotmat(torch.tensor([math.pi / 2, 0.0, 0.0]))[:, :2].reshape(6)
        rest = torch.eye(3)[:, :2].reshape(6).repeat(n - 1)
        self.register_buffer("init_body_pose", torch.cat([root, rest])[None])
        self.register_buffer("useful_rotmat", torch.tensor([float(c) for c in ANNY_USEFUL_BONES])[None])

    def detection(self, features: torch.Tensor):
        logits = self.mlp_det(features)[..., 0]
        return logits, torch.sigmoid(logits)

    def camera(self, cls_token: torch.Tensor, image_size: int):
        """Regressed field of view (B, 1) in [0, pi] and intrinsics (B, 3, 3): square pixels, centred principal point.
        Computed in float32 whatever the model dtype."""
        fov = self.fov_max.float() * torch.sigmoid(self.mlp_fov(cls_token).float())
        focal = ((image_size / 2) / torch.tan(fov / 2))[:, 0]
        zero, one, centre = torch.zeros_like(focal), torch.ones_like(focal), torch.full_like(focal, image_size / 2)
        k = torch.stack([focal, zero, centre, zero, focal, centre, zero, zero, one], dim=-1).reshape(-1, 3, 3)
        return fov, k

    def forward(self, features, cls_token, intrinsics, detections, image_size: int) -> dict:
        config = self.config
        b, h, w, _ = features.shape
        img, row, col = detections.unbind(-1)
        tokens = self.dec_to_token(features) + self.dec_pos_emb.reshape(1, h, w, -1).to(features.dtype)
        queries, mask, slot = pad_people(tokens[img, row, col], detections, b)
        out = self.decoder(queries, tokens.flatten(1, 2), mask)[img, slot]

        offset = self.mlp_offset(out)
        centers_2d = (torch.stack([col, row], dim=-1).float() + 0.5 + offset.float()) * config.patch_size
        k_people = intrinsics[img]
        depth_raw = self.mlp_dist(out).float()
        depth = k_people[:, 0, 0:1] / torch.clamp(torch.exp(depth_raw), min=1e-5)
        translation = inverse_perspective_projection(centers_2d[:, None], k_people, depth[:, None])[:, 0]
        betas = torch.sigmoid(self.mlp_shape(out))
        init_pose = self.init_body_pose.to(out.dtype).expand(out.shape[0], -1)
        pose6d = self.mlp_pose(torch.cat([out, init_pose], dim=-1)) + init_pose
        rotmat = rot6d_to_rotmat(pose6d.float().reshape(out.shape[0], config.num_rotations, 6), layout="columns")
        useful = self.useful_rotmat.to(rotmat.dtype).reshape(1, -1, 1, 1)
        eye = torch.eye(3, dtype=rotmat.dtype, device=rotmat.device)
        rotmat = useful * rotmat + (1 - useful) * eye  # bones outside the rig are forced to the identity
        rotvec = rotmat_to_rotvec(rotmat)
        return dict(offset=offset, centers_2d=centers_2d, depth_raw=depth_raw, depth=depth, translation=translation,
                    rotmat=rotmat, rotvec=rotvec, betas=betas, expression=None)


# ------------------------------------------------------------------------------------------------ base class
class MultiHMRPreTrainedModel(PreTrainedModel):
    config: MultiHMRConfig
    config_class = MultiHMRConfig
    base_model_prefix = "multi_hmr"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["Dinov2Layer", "MultiHMRDecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_flex_attn = False
    _supports_attention_backend = True

    @classmethod
    def from_original(cls, path_or_url: str, cache_dir: str | None = None, **kwargs):
        """Convert an official Multi-HMR checkpoint (file path or URL) and load it into this class; the conversion
        is cached."""
        from .convert_multi_hmr_original import load_original_cached

        return load_original_cached(cls, path_or_url, cache_dir=cache_dir, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, MultiHMRSMPLXHead):
            for table in (module.cross_queries_x, module.cross_queries_y, module.cross_values_x, module.cross_values_y):
                init.normal_(table, std=0.2)
            init.normal_(module.pos_embedding, std=1.0)
        elif type(module).__name__ == "Dinov2Embeddings":
            init.trunc_normal_(module.position_embeddings, std=std)
            init.trunc_normal_(module.cls_token, std=std)
            if module.mask_token is not None:
                init.zeros_(module.mask_token)
        elif type(module).__name__ == "Dinov2LayerScale":
            init.constant_(module.lambda1, self.config.layerscale_value)


# ------------------------------------------------------------------------------------------------------ models
class MultiHMRModel(MultiHMRPreTrainedModel):
    """Multi-HMR without the body model: detections and body-model parameters (everything that is learned).
    :class:`MultiHMRForMeshRecovery` adds the meshes."""

    def __init__(self, config: MultiHMRConfig):
        super().__init__(config)
        self.backbone = Dinov2Model(config.backbone_config())
        self.head = MultiHMRSMPLXHead(config) if config.body_model == "smplx" else MultiHMRAnnyHead(config)
        self.post_init()

    def _check_inputs(self, pixel_values, intrinsics):
        size = self.config.image_size
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4:
            raise ValueError(f"pixel_values must be a (batch, 3, {size}, {size}) tensor, got "
                             f"{getattr(pixel_values, 'shape', type(pixel_values))}")
        if pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(f"pixel_values must have {self.config.num_channels} channels, got {pixel_values.shape[1]}")
        if tuple(pixel_values.shape[-2:]) != (size, size):
            raise ValueError(f"this Multi-HMR checkpoint works at {size}x{size} (its head has per-row/column tables); "
                             f"got {tuple(pixel_values.shape[-2:])}: resize and pad with MultiHMRImageProcessor")
        if intrinsics is not None and (intrinsics.ndim != 3 or intrinsics.shape[1:] != (3, 3)
                                       or intrinsics.shape[0] != pixel_values.shape[0]):
            raise ValueError(f"intrinsics must be (batch, 3, 3) with batch = {pixel_values.shape[0]}, got "
                             f"{tuple(intrinsics.shape)}")

    def default_intrinsics(self, batch_size: int, dtype, device) -> torch.Tensor:
        """Upstream demo camera: ``default_fov`` over the input, principal point at the centre."""
        return intrinsics_from_fov(self.config.default_fov, self.config.image_size, batch_size=batch_size,
                                   dtype=dtype, device=device)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        intrinsics: torch.Tensor | None = None,
        detections: torch.Tensor | None = None,
        detection_threshold: float | None = None,
        nms_kernel_size: int | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> MultiHMRModelOutput:
        r"""
        pixel_values (`(B, 3, S, S)`): normalised images at the checkpoint's resolution.
        intrinsics (`(B, 3, 3)`, optional): camera of each input image (in input pixels). SMPL-X: defaults to
            ``default_fov``; Anny: defaults to the regressed camera.
        detections (`(P, 3)` int64, optional): (image, row, column) of person centres to use instead of detecting
            (teacher forcing, upstream ``idx``); rows must be sorted by image.
        detection_threshold / nms_kernel_size: override the config defaults.
        """
        self._check_inputs(pixel_values, intrinsics)
        config = self.config
        output_hidden_states = (output_hidden_states if output_hidden_states is not None
                                else config.output_hidden_states)
        b, size = pixel_values.shape[0], config.image_size
        backbone_out = self.backbone(pixel_values, output_hidden_states=output_hidden_states)
        sequence = backbone_out.last_hidden_state
        cls_token, patches = sequence[:, 0], sequence[:, 1:]
        g = config.grid_size
        features = patches.reshape(b, g, g, -1)
        logits, scores = self.head.detection(features)

        fov = regressed = None
        if config.body_model == "anny":
            fov, regressed = self.head.camera(cls_token, size)
            if intrinsics is None:
                intrinsics = regressed
        elif intrinsics is None:
            intrinsics = self.default_intrinsics(b, torch.float32, pixel_values.device)
        intrinsics = intrinsics.float()  # camera geometry is computed in float32 whatever the model dtype

        if detections is None:
            threshold = config.detection_threshold if detection_threshold is None else detection_threshold
            kernel = config.nms_kernel_size if nms_kernel_size is None else nms_kernel_size
            detections = detect_people(scores, threshold, kernel)
        else:
            detections = self._check_detections(detections, b, g)
        img, row, col = detections.unbind(-1)
        people = self.head(features, cls_token, intrinsics, detections, size)
        return MultiHMRModelOutput(
            last_hidden_state=patches, pooler_output=cls_token, scores=scores, detection_logits=logits,
            detections=detections, detection_scores=scores[img, row, col], intrinsics=intrinsics,
            regressed_intrinsics=regressed, fov=fov, hidden_states=backbone_out.hidden_states, **people,
        )

    @staticmethod
    def _check_detections(detections, batch_size, grid):
        if isinstance(detections, (tuple, list)):
            detections = torch.stack([torch.as_tensor(d) for d in detections[:3]], dim=-1)
        if detections.ndim != 2 or detections.shape[1] != 3 or detections.is_floating_point():
            raise ValueError(f"detections must be a (P, 3) integer tensor of (image, row, column), got "
                             f"{tuple(detections.shape)} {detections.dtype}")
        detections = detections.long()
        if detections.numel() and (detections.min() < 0 or detections[:, 0].max() >= batch_size
                                   or detections[:, 1:].max() >= grid):
            raise ValueError(f"detections out of range: images < {batch_size}, rows/columns < {grid}")
        if detections.shape[0] > 1 and (detections[1:, 0] < detections[:-1, 0]).any():
            raise ValueError("detections must be sorted by image index")
        return detections


class MultiHMRForMeshRecovery(MultiHMRPreTrainedModel):
    """Multi-HMR with its body model: posed meshes and joints in camera space and their projections.

    SMPL-X needs the licensed model file (``smplx_path`` argument, ``config.smplx_path``, ``$NLV_SMPLX_DIR`` or
    ``$SMPLX_DIR``), loaded at the first forward; Anny comes with the ``anny`` package. The body models hold no learned
    weights and are not part of the checkpoint. ``model.faces`` gives the mesh triangles (F, 3) int64."""

    def __init__(self, config: MultiHMRConfig, smplx_path: str | None = None):
        super().__init__(config)
        self.multi_hmr = MultiHMRModel(config)
        self._smplx_path = smplx_path
        self._body_model = None
        # weights of the training loss terms (upstream ``--alpha_*`` defaults); not saved with the model
        self.loss_weights = dict(UPSTREAM_LOSS_WEIGHTS)
        self.post_init()

    @property
    def body_model(self):
        if self._body_model is None:
            if self.config.body_model == "smplx":
                self._body_model = SMPLXBodyModel(self._smplx_path or self.config.smplx_path,
                                                  num_betas=self.config.num_betas,
                                                  num_expression_coeffs=self.config.num_expression_coeffs)
            else:
                self._body_model = AnnyBodyModel()
        return self._body_model

    @property
    def faces(self) -> torch.Tensor:
        """Mesh triangles (F, 3) int64 of the body model, for renderers and exporters."""
        return self.body_model.faces

    def pose_bodies(self, rotvec, rotmat, betas, expression, translation, intrinsics_people) -> dict:
        """Run the body model for P people and place each mesh so that its centre joint sits at ``translation``."""
        config = self.config
        dtype = translation.dtype
        if config.body_model == "smplx":
            body = self.body_model(rotvec, betas, expression)
            extra = None
        else:
            body = self.body_model(rotmat, betas)
            extra = body["blendshape_coeffs"]
        center = body["joints"][:, PERSON_CENTER_INDEX[config.body_model][config.person_center]][:, None]
        # same operation order as upstream (centre first, then translate), which keeps float rounding identical
        translation32 = translation.float()[:, None]
        joints = (body["joints"] - center) + translation32
        vertices = (body["vertices"] - center) + translation32
        k = intrinsics_people.float()
        return dict(
            vertices=vertices.to(dtype), joints_3d=joints.to(dtype),
            vertices_2d=perspective_projection(vertices, k).to(dtype),
            joints_2d=perspective_projection(joints, k).to(dtype), translation_pelvis=joints[:, 0].to(dtype),
            blendshape_coeffs=extra,
        )

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        intrinsics: torch.Tensor | None = None,
        detections: torch.Tensor | None = None,
        detection_threshold: float | None = None,
        nms_kernel_size: int | None = None,
        labels: torch.Tensor | None = None,
        compute_meshes: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> MultiHMRMeshRecoveryOutput:
        r"""
        Same inputs as :meth:`MultiHMRModel.forward`, plus:
        labels (optional): either a (B, H, W) target person-centre map (1 at the patch of each person's head): the
            upstream focal detection loss only; or a mapping of per-person targets (``detections``, ``centers_2d``,
            ``translation``, ``depth``, ``rotmat``/``rotvec``, ``betas``, ``joints_3d``, ``vertices``, ``fov``...,
            see :func:`multi_hmr_losses`): the head is then run at the GT centres (teacher forcing, as upstream
            trains) and ``loss`` is upstream's weighted sum of all terms, weighted by ``model.loss_weights``
            (upstream defaults); ``loss_terms`` holds each term.
        compute_meshes (`bool`, optional): run the body model (needs the SMPL-X files for SMPL-X). Defaults to True
            in eval mode; in training mode only when a mesh loss term is on and the labels carry GT joints/vertices.
        """
        regression = labels is not None and not isinstance(labels, torch.Tensor)
        if regression and detections is None:
            if "detections" not in labels:
                raise ValueError("training labels must be a (B, H, W) centre map or a mapping with 'detections' "
                                 "and the per-person targets (see multi_hmr_losses)")
            detections = labels["detections"]  # teacher forcing: the head runs at the GT centres (upstream idx)
        out = self.multi_hmr(pixel_values, intrinsics=intrinsics, detections=detections,
                             detection_threshold=detection_threshold, nms_kernel_size=nms_kernel_size,
                             output_hidden_states=output_hidden_states)
        weights = self.loss_weights
        meshes = {}
        if compute_meshes is None:
            compute_meshes = not self.training or (regression and any(weights.get(k, 0) for k in MESH_TERMS)
                                                   and ("joints_3d" in labels or "vertices" in labels))
        if compute_meshes and out.detections.shape[0] > 0:
            meshes = self.pose_bodies(out.rotvec, out.rotmat, out.betas, out.expression, out.translation,
                                      out.intrinsics[out.detections[:, 0]])
        loss = loss_terms = None
        if regression:
            loss, loss_terms = multi_hmr_losses(out, labels, self.config, weights, meshes or None)
        elif labels is not None:
            loss = detection_focal_loss(out.scores, labels)
        return MultiHMRMeshRecoveryOutput(loss=loss, loss_terms=loss_terms, **dict(out.items()), **meshes)


__all__ = ["MultiHMRForMeshRecovery", "MultiHMRMeshRecoveryOutput", "MultiHMRModel", "MultiHMRModelOutput",
           "MultiHMRPreTrainedModel", "detect_people", "detection_focal_loss"]
