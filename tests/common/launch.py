"""Run a training recipe in 2 CPU processes under ``accelerate launch`` (the multi-process tests of every recipe)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two_processes(recipe: str, args: list[str], cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    """``accelerate launch`` ``nlv-hf train <recipe> <args>`` in 2 processes and assert it succeeded.

    accelerate's ``--cpu`` flag alone starts one process (multi-CPU there means mpirun); its torchrun launcher
    (``--multi_gpu``, a misnomer) starts the 2 processes, and ``--use_cpu true`` among ``args`` makes them train on
    CPU with gloo."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), "-m", "nlv_hf.cli", "train", recipe, *args]
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc
