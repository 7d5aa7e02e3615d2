"""Atomic writes, locks on disk and process liveness: the pieces every run folder and cache file relies on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import in_threads
from hotdog import atomic, runs
from hotdog.locking import file_lock, try_lock


def test_atomic_writes_of_text_json_bytes_and_path_writers_leave_only_the_destination(tmp_path: Path) -> None:
    atomic.write_text(tmp_path / "a.txt", "héllo\n")
    atomic.write_json(tmp_path / "b.json", {"path": tmp_path})
    atomic.write_bytes(tmp_path / "c.bin", b"\0\1")
    with atomic.atomic_path(tmp_path / "d.npy") as temporary:
        assert temporary.suffix == ".npy" and temporary.parent == tmp_path
        np.save(temporary, np.arange(3))  # np.save would add .npy to a name without it
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    assert json.loads((tmp_path / "b.json").read_text()) == {"path": str(tmp_path)}
    assert (tmp_path / "c.bin").read_bytes() == b"\0\1"
    assert np.load(tmp_path / "d.npy").tolist() == [0, 1, 2]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.json", "c.bin", "d.npy"]


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    destination = tmp_path / "status.json"
    atomic.write_json(destination, {"state": "running"})
    with pytest.raises(ZeroDivisionError):
        with atomic.atomic_file(destination) as handle:
            handle.write('{"state": "comp')
            handle.flush()
            1 / 0
    assert json.loads(destination.read_text()) == {"state": "running"}
    assert [path.name for path in tmp_path.iterdir()] == ["status.json"]


def test_file_lock_excludes_another_process_until_it_lets_go(tmp_path: Path) -> None:
    lock_file = tmp_path / ".lock"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from hotdog.locking import file_lock
with file_lock({str(lock_file)!r}):
    print("held", flush=True)
    sys.stdin.readline()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert try_lock(lock_file) is None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(30) == 0
        taken = try_lock(lock_file)
        assert taken is not None
        taken.release()
    finally:
        holder.kill()


def test_file_lock_excludes_other_threads_of_the_same_process(tmp_path: Path) -> None:
    inside, overlaps = [], []

    def work(_: int) -> None:
        for _ in range(20):
            with file_lock(tmp_path / ".lock"):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(len(inside))
                time.sleep(0.001)
                inside.pop()

    in_threads(work, 4)
    assert not overlaps


def test_pid_alive_tells_running_exited_and_zombie_processes_apart() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert runs.pid_alive(child.pid)
    finally:
        child.kill()
    deadline = time.time() + 30
    while runs.pid_alive(child.pid) and time.time() < deadline:  # exited but not yet reaped: a zombie on Unix
        time.sleep(0.05)
    assert not runs.pid_alive(child.pid)
    child.wait()
    assert not runs.pid_alive(child.pid)
    assert runs.pid_alive(None) is False
