"""Which device trains: a GPU when there is one (several: mirrored), the CPU otherwise."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

#: Split the CPU into this many logical devices and mirror across them: exercises the multi-GPU code path on
#: a machine without GPUs (tests), and is harmless otherwise.
CPU_REPLICAS_ENV = "HOTDOG_CPU_REPLICAS"


#: Linux reports the CPU's model and NVIDIA's driver its GPUs under /proc; other systems have no /proc.
HAS_PROC = sys.platform.startswith("linux")


@lru_cache(maxsize=1)
def cpu_name() -> str:
    if HAS_PROC:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """"GPU: NVIDIA H200" or "CPU: <model> (2 cores)"; imports TensorFlow."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return _description([tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                         for gpu in gpus])


def _description(gpu_names: list[str]) -> str:
    if gpu_names:
        return f"GPU: {gpu_names[0]}" + (f" x{len(gpu_names)}" if len(gpu_names) > 1 else "")
    return f"CPU: {cpu_name()} ({os.cpu_count()} cores)"


def driver_gpu_names() -> list[str]:
    """NVIDIA GPUs the driver reports (`nvidia-smi -L`, else /proc), without importing TensorFlow."""
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
        names = [line.split(":", 1)[1].split("(UUID")[0].strip() for line in listing.splitlines()
                 if line.startswith("GPU ") and ":" in line]
        if names:
            return names
    except (OSError, subprocess.SubprocessError):
        pass
    if not HAS_PROC:
        return []
    return [line.split(":", 1)[1].strip() for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information"))
            for line in info.read_text(errors="replace").splitlines() if line.startswith("Model:")]


@lru_cache(maxsize=1)
def quick_describe() -> str:
    """What `describe` would say, from the driver instead of TensorFlow: fast enough for the home page.

    A GPU listed here is used for training only with a CUDA build of TensorFlow; the run itself reports the truth.
    """
    return _description(driver_gpu_names())


def setup(mixed_precision: bool = False):
    """Configure TensorFlow for training; returns (distribution strategy, device description)."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process
            pass
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "mixed_bfloat16")
    replicas = int(os.environ.get(CPU_REPLICAS_ENV, "0") or 0)
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
    elif not gpus and replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
        except RuntimeError:
            pass
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
    else:
        strategy = tf.distribute.get_strategy()
    device = describe()
    if strategy.num_replicas_in_sync > 1:
        device += f", mirrored over {strategy.num_replicas_in_sync} replicas"
    if mixed_precision:
        device += f", mixed precision ({keras.mixed_precision.global_policy().name})"
    return strategy, device
