"""Model cards of the seven Multi-HMR checkpoints: metadata, licence, reported numbers and a snippet that parses.

(A test that runs the usage snippets against a tiny exported Multi-HMR comes with the model code.)
"""

import ast
import re
from pathlib import Path

import pytest
import yaml

CARDS = Path(__file__).resolve().parents[1] / "model_cards"
CHECKPOINTS = {
    "multiHMR_896_L": ("multi-hmr-896-l", 896, ("89.9", "42.2", "56.7", "126")),
    "multiHMR_672_L": ("multi-hmr-672-l", 672, ("94.1", "37.0", "58.6", "74")),
    "multiHMR_672_B": ("multi-hmr-672-b", 672, ("94.0", "43.6", "67.2", "43")),
    "multiHMR_672_S": ("multi-hmr-672-s", 672, ("102.4", "49.3", "78.9", "29")),
    "multiHMR_1288_L_bedlam": ("multi-hmr-1288-l-bedlam", 1288, None),
    "multiHMR_1288_L_agora": ("multi-hmr-1288-l-agora", 1288, None),
    "multiHMR_672_L_anny": ("multi-hmr-672-l-anny", 672, None),
}
DATASETS = {"multiHMR_1288_L_bedlam": ["bedlam"], "multiHMR_1288_L_agora": ["bedlam", "agora"],
            "multiHMR_672_L_anny": ["bedlam", "anny-one"]}


def read_card(path: Path) -> tuple[dict, str]:
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", path.read_text(encoding="utf-8"), re.S)
    assert match, f"{path.name}: no YAML front matter"
    return yaml.safe_load(match.group(1)), match.group(2)


@pytest.mark.parametrize("checkpoint", sorted(CHECKPOINTS))
def test_multi_hmr_card(checkpoint):
    stem, size, reported = CHECKPOINTS[checkpoint]
    meta, body = read_card(CARDS / f"{stem}.md")
    anny = checkpoint.endswith("anny")
    assert meta["license"] == "other" and meta["license_name"] and meta["license_link"].startswith("https://")
    assert ("Checkpoint_License_Anny" in meta["license_link"]) == anny
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "image-to-3d"
    assert {"nlv_hf", "multi-hmr", "human-mesh-recovery"} <= set(meta["tags"])
    assert ("anny" if anny else "smpl-x") in meta["tags"]
    assert meta["datasets"] == DATASETS.get(checkpoint, ["bedlam", "agora", "cuffs", "ubody"])
    assert f"| checkpoint | `{checkpoint}.pt` |" in body
    assert f"{size}×{size}" in body and f"{size // 14}×{size // 14} patches" in body
    assert "## Training (reported)" in body and "## Results (reported)" in body
    if reported:
        pve_3dpw, pve_ehf, pve_bedlam, ms = reported
        assert f"| {pve_3dpw} | {pve_ehf} | {pve_bedlam} | {ms} ms |" in body
        assert "V100" in body
    else:
        assert "reports no" in body
    assert ("non-commercial" in body) != anny and "Apache-2.0" in body
    assert ("SMPL-X" in body and "NLV_SMPLX_DIR" in body) != anny
    # the usage snippet is valid Python and uses the documented API
    snippet = re.findall(r"```python\n(.*?)```", body, re.S)[0]
    ast.parse(snippet)
    for name in ("MultiHMRForMeshRecovery.from_pretrained", "MultiHMRImageProcessor", "post_process_mesh_recovery",
                 "render_overlay", "export_glb"):
        assert name in snippet
    assert f'repo = "naver/{stem}"' in snippet


def test_one_card_per_release():
    found = {re.search(r"\| checkpoint \| `([^`]+)\.pt` \|", read_card(p)[1]).group(1)
             for p in CARDS.glob("multi-hmr-*.md")}
    assert found == set(CHECKPOINTS)
