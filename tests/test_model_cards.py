"""Model cards of the four CroCo pretraining checkpoints: metadata, content, and a usage snippet that runs.

The snippets run unmodified in a fresh offline interpreter, against a tiny random CroCo exported like a converted
checkpoint and placed in a Hugging Face cache under each card's Hub id.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
import yaml

from nlv_hf.hub import export_model, populate_hf_cache
from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining
from nlv_hf.models.croco.image_processing_croco import CroCoImageProcessor

CARDS = Path(__file__).resolve().parents[1] / "model_cards"
CHECKPOINTS = {
    "CroCo.pth": "cosine",
    "CroCo_V2_ViTBase_SmallDecoder.pth": "RoPE100",
    "CroCo_V2_ViTBase_BaseDecoder.pth": "RoPE100",
    "CroCo_V2_ViTLarge_BaseDecoder.pth": "RoPE100",
}


def read_card(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    assert match, f"{path.name}: no YAML front matter"
    return yaml.safe_load(match.group(1)), match.group(2)


def cards() -> dict[str, tuple[Path, dict, str]]:
    found = {}
    for path in sorted(CARDS.glob("croco-v*.md")):  # the pretraining cards (other families: their own tests)
        meta, body = read_card(path)
        checkpoint = re.search(r"\| checkpoint \| `([^`]+)` \|", body)
        if checkpoint and checkpoint.group(1) in CHECKPOINTS:  # other methods' cards are tested with their method
            found[checkpoint.group(1)] = (path, meta, body)
    return found


def python_snippet(body: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    assert blocks, "no python usage snippet"
    return blocks[0]


def test_one_card_per_pretraining_checkpoint_with_metadata():
    found = cards()
    assert set(found) == set(CHECKPOINTS)
    for checkpoint, (path, meta, body) in found.items():
        assert meta["license"] == "cc-by-nc-sa-4.0", path.name
        assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "image-feature-extraction"
        assert {"nlv_hf", "croco", "cross-view-completion"} <= set(meta["tags"])
        assert "habitat" in meta["datasets"]
        assert ("arkitscenes" in meta["datasets"]) == (CHECKPOINTS[checkpoint] == "RoPE100")
        assert "CC BY-NC-SA 4.0" in body and "non-commercial" in body
        # reported (paper / upstream) and measured (by us) are kept apart and labelled
        assert "## Training (reported)" in body and "## Results (reported)" in body
        assert re.search(r"\*Measured\* on CPU, float32, torch [\d.]+, transformers [\d.]+, \d{4}-\d\d-\d\d", body)
        assert re.search(r"maximum absolute difference of\s+\d\.\d+e-0[6-9]", body)
        assert re.search(r"repo = \"naver/" + re.escape(path.stem) + "\"", body)


def test_usage_snippets_run_against_a_tiny_converted_model(tmp_path):
    torch.manual_seed(0)
    found = cards()
    hub_cache = tmp_path / "hf_home" / "hub"
    work = tmp_path / "work"
    work.mkdir()
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    PIL.Image.fromarray(scene[:, :56]).save(work / "view1.png")
    PIL.Image.fromarray(scene[:, 8:]).save(work / "view2.png")
    snippets = []
    for checkpoint, (path, _, body) in found.items():
        config = CroCoConfig(image_size=32, patch_size=8, encoder_hidden_size=32, encoder_num_hidden_layers=1,
                             encoder_num_attention_heads=2, decoder_hidden_size=32, decoder_num_hidden_layers=1,
                             decoder_num_attention_heads=2, pos_embed=CHECKPOINTS[checkpoint])
        processor = CroCoImageProcessor(patch_size=8, size={"shortest_edge": 32},
                                        crop_size={"height": 32, "width": 32})
        folder = export_model(CroCoForPretraining(config).eval(), tmp_path / path.stem, processor=processor,
                              model_id=f"naver/{path.stem}", source=checkpoint)
        populate_hf_cache(folder, f"naver/{path.stem}", cache_dir=hub_cache)
        snippets.append(python_snippet(body))
    runner = work / "run_snippets.py"
    runner.write_text(
        "import json, sys\n"
        "results = []\n"
        "for code in json.load(open(sys.argv[1])):\n"
        "    scope = {'__name__': '__main__'}\n"
        "    exec(compile(code, 'snippet', 'exec'), scope)\n"
        "    results.append([list(scope['features'].shape), int(scope['out'].bool_masked_pos.sum())])\n"
        "print(json.dumps(results))\n")
    (work / "snippets.json").write_text(json.dumps(snippets))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[1] / "src"),
                                                      os.environ.get("PYTHONPATH", "")] if p)}
    result = subprocess.run([sys.executable, str(runner), str(work / "snippets.json")], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    shapes = json.loads(result.stdout.strip().splitlines()[-1])
    assert shapes == [[[1, 16, 32], 14]] * len(snippets)  # 4x4 patches, int(0.9 * 16) hidden
    assert PIL.Image.open(work / "reconstruction.png").size == (32, 32)


def test_quoted_speed_matches_the_committed_benchmark():
    """The CPU speed a card quotes is the one in the benchmark JSON it names (no stale or invented numbers)."""
    bench_config = {"CroCo_V2_ViTBase_SmallDecoder.pth": "vitb_smalldecoder",
                    "CroCo_V2_ViTLarge_BaseDecoder.pth": "vitl_basedecoder"}
    for checkpoint, (path, _, body) in cards().items():
        quoted = re.findall(r"([\d.]+) img/s with `(\w+)` attention", body)
        if checkpoint not in bench_config:
            assert not quoted, f"{path.name} quotes a speed the benchmark does not measure"
            continue
        source = re.search(r"`(benchmarks/results/[^`]+\.json)`", body)
        assert source and quoted, path.name
        payload = json.loads((CARDS.parent / source.group(1)).read_text())
        measured = {r["attn_implementation"]: r["img_per_s"] for r in payload["results"]
                    if r["config"] == bench_config[checkpoint] and r["mode"] == "forward"}
        for value, attn in quoted:
            assert float(value) == pytest.approx(measured[attn], abs=0.006), (path.name, attn)
