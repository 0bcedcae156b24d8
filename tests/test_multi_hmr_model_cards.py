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


def test_usage_snippets_run_against_tiny_converted_models(tmp_path):
    """Each card's snippet runs unmodified, offline, against a tiny random Multi-HMR of the same body model exported
    under the card's Hub id (SMPL-X cards: the synthetic SMPL-X file; Anny: the anny package)."""
    pytest.importorskip("nlv_hf.models.multi_hmr", reason="the Multi-HMR model code is not in this tree yet")
    pytest.importorskip("anny")
    import json
    import os
    import subprocess
    import sys

    import numpy as np
    import PIL.Image
    import torch

    from nlv_hf.body.synthetic_smplx import write_synthetic_smplx
    from nlv_hf.hub import export_model, populate_hf_cache
    from nlv_hf.models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery
    from nlv_hf.models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor

    tiny = dict(image_size=56, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, decoder_hidden_size=32,
                decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_head_dim=16,
                decoder_intermediate_size=64, camera_embedding_num_bands=4, detection_threshold=0.0)
    hub_cache = tmp_path / "hf_home" / "hub"
    snippets = []
    # one card per body model is enough to run (the others differ only in the repo id, checked above)
    for stem, body_model in (("multi-hmr-672-s", "smplx"), ("multi-hmr-672-l-anny", "anny")):
        torch.manual_seed(0)
        model = MultiHMRForMeshRecovery(MultiHMRConfig(body_model=body_model, **tiny)).eval()
        folder = export_model(model, tmp_path / stem, processor=MultiHMRImageProcessor(image_size=56),
                              model_id=f"naver/{stem}", source=f"{stem}.pt")
        populate_hf_cache(folder, f"naver/{stem}", cache_dir=hub_cache)
        snippets.append(re.findall(r"```python\n(.*?)```", read_card(CARDS / f"{stem}.md")[1], re.S)[0])
    work = tmp_path / "work"
    work.mkdir()
    photo = np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    PIL.Image.fromarray(photo).save(work / "people.jpg")
    smplx_dir = write_synthetic_smplx(tmp_path / "smplx")
    runner = work / "run.py"
    runner.write_text(
        "import json, sys\n"
        "out = []\n"
        "for code in json.load(open(sys.argv[1])):\n"
        "    scope = {'__name__': '__main__'}\n"
        "    exec(compile(code, 'snippet', 'exec'), scope)\n"
        "    out.append(len(scope['people']))\n"
        "print(json.dumps(out))\n")
    (work / "snippets.json").write_text(json.dumps(snippets))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1",
           "NLV_SMPLX_DIR": str(smplx_dir),
           "PYTHONPATH": os.pathsep.join(p for p in [str(CARDS.parent / "src"), os.environ.get("PYTHONPATH", "")] if p)}
    result = subprocess.run([sys.executable, str(runner), str(work / "snippets.json")], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(counts) == 2 and all(c >= 1 for c in counts)  # threshold 0: every local maximum is a person
    overlay = PIL.Image.open(work / "overlay.png")
    assert overlay.size == (64, 40) and (np.asarray(overlay) != photo).any()
    assert (work / "people.glb").stat().st_size > 0 and json.loads((work / "people.json").read_text())["people"]
