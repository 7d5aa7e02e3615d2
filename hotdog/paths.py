"""Which server folders the Data page may read, so a path typed in a browser cannot reach the rest of the disk.

Allowed roots come from `HOTDOG_DATA_ROOTS` (separated by os.pathsep), else the app's data folder and the
current working directory. A typed path is accepted only if, with every symlink followed, it lies inside a root.
"""

from __future__ import annotations

import os
from pathlib import Path

#: os.pathsep-separated folders the Data page may read; replaces the defaults when set.
ROOTS_ENV = "HOTDOG_DATA_ROOTS"
#: The app's own data folder (uploads and downloads land there); `<repo>/data` when unset.
DATA_DIR_ENV = "HOTDOG_DATA_DIR"
#: The folder holding the `hotdog` package and `streamlit_app.py`: where training processes start.
REPO_DIR = Path(__file__).resolve().parent.parent


class PathNotAllowed(ValueError):
    """A typed path that is outside the allowed folders or does not exist; the message is one line."""


def app_data_dir() -> Path:
    """Where the app keeps its datasets: `$HOTDOG_DATA_DIR`, else `data/` beside the hotdog package."""
    configured = os.environ.get(DATA_DIR_ENV)
    return Path(configured).expanduser() if configured else REPO_DIR / "data"


def allowed_roots() -> list[Path]:
    """The folders (symlinks resolved, duplicates dropped) inside which `resolve_allowed` accepts paths."""
    configured = os.environ.get(ROOTS_ENV, "")
    roots = [Path(part) for part in configured.split(os.pathsep) if part] or [app_data_dir(), Path.cwd()]
    return list(dict.fromkeys(root.expanduser().resolve() for root in roots))


def resolve_allowed(user_path: str) -> Path:
    """Turn a typed path into a real, existing path inside an allowed root, or raise PathNotAllowed.

    `~` is expanded. A relative path is looked up in each root in order and the first that exists wins, so both
    `hotdog` (in the data folder) and `data/hotdog` (from the working directory) work. Symlinks are followed
    before the check, so a link pointing out of the roots is refused like `..` or an absolute path elsewhere.
    Paths outside the roots are refused without saying whether they exist.
    """
    text = user_path.strip()
    if not text:
        raise PathNotAllowed("enter a folder path")
    if "\x00" in text:
        raise PathNotAllowed(f"'{_shown(text)}' is not a folder path: it holds a NUL character")
    roots = allowed_roots()
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # "~someone" with no such user
        path = Path(text)
    candidates = [path] if path.is_absolute() else [root / path for root in roots]
    inside = [real for real in map(_real_path, candidates) if any(real.is_relative_to(root) for root in roots)]
    if not inside:
        listing = ", ".join(str(root) for root in roots)
        raise PathNotAllowed(f"'{_shown(text)}' is outside the allowed folders ({listing}); set {ROOTS_ENV} to "
                             f"allow more")
    existing = next((real for real in inside if _exists(real)), None)
    if existing is None:
        looked = ", ".join(_shown(str(real)) for real in inside)
        raise PathNotAllowed(f"'{_shown(text)}' does not exist (looked for {looked})")
    return existing


def _shown(text: str, limit: int = 100) -> str:
    """A typed path as a message quotes it: one line, at most `limit` characters."""
    text = text.replace("\n", " ").replace("\x00", "\\0")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system, say
        return False


def is_inside(path: str | Path, roots: list[Path]) -> bool:
    """Whether `path`, every symlink followed, lies inside one of `roots` (resolved folders)."""
    real = _real_path(Path(path))
    return any(real.is_relative_to(root) for root in roots)


def _real_path(path: Path) -> Path:
    """`path` with every symlink that exists followed and `..` applied; a symlink loop counts as missing."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # symlink loop: judge the path as written
        return Path(os.path.normpath(path.absolute()))
