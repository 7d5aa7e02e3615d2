"""Allowed server folders: what a path typed on the Data page may reach, and the refusals for everything else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hostile
from conftest import draw_photo
from hotdog.data import OUTSIDE_REASON, check_data, load_dataset
from hotdog.paths import DATA_DIR_ENV, ROOTS_ENV, PathNotAllowed, allowed_roots, app_data_dir, resolve_allowed


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/allowed/{photos,link-out -> ../outside, link-in -> photos} and tmp/outside/secret, with one allowed root."""
    (tmp_path / "allowed" / "photos").mkdir(parents=True)
    (tmp_path / "outside" / "secret").mkdir(parents=True)
    (tmp_path / "allowed" / "link-out").symlink_to(tmp_path / "outside")
    (tmp_path / "allowed" / "link-in").symlink_to(tmp_path / "allowed" / "photos")
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path / "allowed"))
    return tmp_path.resolve()  # roots come back resolved, wherever the temporary folder really lives


def test_relative_and_absolute_paths_inside_a_root_are_accepted(layout: Path) -> None:
    photos = layout / "allowed" / "photos"
    assert resolve_allowed("photos") == photos
    assert resolve_allowed(f"  {photos}  ") == photos
    assert resolve_allowed("photos/../photos") == photos


def test_symlink_staying_inside_is_accepted_as_its_target(layout: Path) -> None:
    assert resolve_allowed("link-in") == layout / "allowed" / "photos"


@pytest.mark.parametrize("typed", ["../outside/secret", "{tmp}/outside/secret", "link-out/secret", "/etc"])
def test_paths_leaving_the_roots_are_refused_with_the_roots_listed(layout: Path, typed: str) -> None:
    with pytest.raises(PathNotAllowed, match=f"is outside the allowed folders \\({layout / 'allowed'}\\)"):
        resolve_allowed(typed.format(tmp=layout))


def test_missing_folder_inside_says_it_does_not_exist(layout: Path) -> None:
    with pytest.raises(PathNotAllowed, match="'nothing-here' does not exist"):
        resolve_allowed("nothing-here")


def test_symlink_loop_counts_as_missing(layout: Path) -> None:
    (layout / "allowed" / "loop").symlink_to(layout / "allowed" / "loop")
    with pytest.raises(PathNotAllowed, match="'loop' does not exist"):
        resolve_allowed("loop")


def test_missing_folder_outside_does_not_reveal_whether_it_exists(layout: Path) -> None:
    with pytest.raises(PathNotAllowed, match="is outside the allowed folders"):
        resolve_allowed(str(layout / "outside" / "nothing-here"))


def test_empty_path_is_refused(layout: Path) -> None:
    with pytest.raises(PathNotAllowed, match="enter a folder path"):
        resolve_allowed("   ")


def test_relative_paths_are_looked_up_in_each_root_in_order(layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(layout / "allowed"), str(layout / "outside")]))
    assert allowed_roots() == [layout / "allowed", layout / "outside"]
    assert resolve_allowed("secret") == layout / "outside" / "secret"
    assert resolve_allowed("link-out/secret") == layout / "outside" / "secret"  # now inside the second root


def test_default_roots_are_the_data_folder_and_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path.parent)
    assert app_data_dir() == tmp_path / "data"
    assert allowed_roots() == [(tmp_path / "data").resolve(), tmp_path.parent.resolve()]


def test_data_folder_defaults_to_data_beside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert app_data_dir() == Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("typed, reason", hostile.TYPED_PATHS)
def test_hostile_typed_paths_get_one_line_each(layout: Path, typed: str, reason: str) -> None:
    """A NUL byte used to raise a raw ValueError; a 5,000-character name an OSError."""
    with pytest.raises(PathNotAllowed) as refusal:
        resolve_allowed(typed)
    message = str(refusal.value)
    assert reason in message and "\n" not in message and len(message) < 400, message


def test_photos_linking_outside_the_allowed_folders_are_left_out(layout: Path, tmp_path: Path) -> None:
    """A class folder or a photo that links out of the allowed folders used to be followed: its files were trained
    on and shown as samples. Now they are left out and listed with the reason; a link staying inside is kept."""
    root = layout / "allowed" / "photos"
    links = hostile.dataset_linking_out(root, layout / "outside", lambda path: draw_photo(path, True, 0))
    dataset = load_dataset(root)
    listed = {example.path for examples in dataset.splits.values() for example in examples}
    assert links["inside"] in listed
    assert not any(path.resolve().is_relative_to(layout / "outside") for path in listed)
    assert sorted(dataset.outside) == sorted(
        [("train", links["photo"]), *(("test", links["class folder"] / f"holiday-{index}.jpg") for index in range(4))])
    report = check_data(root)
    assert sorted(item["path"] for item in report["unreadable"] if item["reason"] == OUTSIDE_REASON) == sorted(
        str(path) for _, path in dataset.outside)
    assert report["splits"]["test"] == {"hotdog": 0, "nohotdog": 4}
