import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# No network in tests, quiet libraries, caches inside the test session.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

sys.path.insert(0, str(REPO / "tests"))


def fixtures_dir() -> Path:
    return Path(os.environ.get("NLV_FIXTURES", REPO.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_root() -> Path:
    root = fixtures_dir()
    if not root.is_dir():
        message = f"golden fixtures not found at {root}: set NLV_FIXTURES to the shared/fixtures folder"
        if os.environ.get("CI"):  # in CI the parity tests must run, never skip
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(autouse=True)
def _isolated_hf_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.getbasetemp() / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("NLV_HF_CACHE", str(home / "nlv_hf"))
