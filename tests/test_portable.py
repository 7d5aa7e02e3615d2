"""The library where there is no `fcntl` and no `fork` (Windows; macOS forbids forking after TensorFlow): every
module imports, and the app's way of starting training spawns `python -m hotdog train`, which trains the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from hotdog import runs, worker

#: Run by every Python process started with this folder on PYTHONPATH, the spawned training process included.
SITECUSTOMIZE = '''
import atexit, os, sys

sys.modules["fcntl"] = None  # `import fcntl` raises ImportError, as on Windows
for name in ("fork", "forkpty", "register_at_fork"):
    if hasattr(os, name):
        delattr(os, name)

def _record():
    with open(os.environ["PORTABLE_PROOF"], "a") as proof:
        proof.write(f"{os.getpid()} {sys.argv[1:3]} fcntl={sys.modules.get('fcntl')!r} fork={hasattr(os, 'fork')}\\n")

atexit.register(_record)
'''

APP = '''
import importlib, json, pkgutil, sys, time
import hotdog

imported = [module.name for module in pkgutil.iter_modules(hotdog.__path__) if module.name != "__main__"]
for name in imported:
    importlib.import_module(f"hotdog.{name}")
from hotdog import launch, runs, training, worker

data, runs_dir = sys.argv[1:]
worker.ensure_running(runs_dir)  # what streamlit_app.py does: here it must start nothing
run = launch.start_training_process(training.TrainConfig(data=data, model="seed", epochs=1), runs_dir)
deadline = time.time() + 400
while run.state in runs.ACTIVE_STATES and time.time() < deadline:
    time.sleep(0.5)
print(json.dumps({"imported": imported, "fcntl": repr(sys.modules.get("fcntl")), "worker": worker.available(),
                  "run": str(run.path), "state": run.state, "status": run.status}), flush=True)
'''


@pytest.mark.slow
def test_without_fcntl_and_fork_every_module_imports_and_a_spawned_process_trains(demo_dataset, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    proof, runs_dir = tmp_path / "proof.txt", tmp_path / "runs"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
                   "PORTABLE_PROOF": str(proof)}
    environment.pop(worker.NO_FORK_ENV, None)  # no fork because there is none, not because it is switched off
    result = subprocess.run([sys.executable, "-c", APP, str(demo_dataset), str(runs_dir)], capture_output=True,
                            text=True, cwd=REPO, env=environment, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])

    modules = {path.stem for path in (REPO / "hotdog").glob("*.py")} - {"__init__", "__main__"}
    assert modules <= set(answer["imported"]) and answer["fcntl"] == "None" and answer["worker"] is False
    assert answer["state"] == "completed", answer["status"]
    run = runs.Run(Path(answer["run"]))
    assert run.has_model() and [event["epoch"] for event in run.metrics() if event["event"] == "epoch"] == [1]
    assert not list(runs_dir.glob(".worker*"))  # no warm worker was started or asked
    lines = proof.read_text().splitlines()
    trainer = [line for line in lines if "['train', '--run-dir']" in line]
    assert len(lines) == 2 and len(trainer) == 1, lines  # the app, and the `python -m hotdog train` it spawned
    assert all(line.endswith("fcntl=None fork=False") for line in lines), lines
    assert trainer[0].split()[0] == str(answer["status"]["pid"])


def test_hotdog_no_fork_turns_the_warm_worker_off(tmp_path, monkeypatch):
    monkeypatch.setenv(worker.NO_FORK_ENV, "1")
    assert not worker.available()
    worker.ensure_running(tmp_path)
    assert list(tmp_path.iterdir()) == []  # no worker started, no log, no socket
    run = runs.claim_run(tmp_path, "spawned", {"settings": {}})
    assert worker.submit(run) is None

