"""Dataset zips and per-class uploads: the happy layouts, and every refusal leaving nothing behind."""

from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import hostile
from conftest import REPO
from hotdog import archives, workspace
from hotdog.archives import ArchiveError, extract_dataset_zip, save_uploaded_photos


def jpeg(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "JPEG")
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def dataset_entries(prefix: str = "", train: str = "train") -> dict[str, bytes]:
    return {
        f"{prefix}{train}/hotdog/a.jpg": jpeg("red"),
        f"{prefix}{train}/nohotdog/b.jpg": jpeg("green"),
        f"{prefix}test/hotdog/c.jpg": jpeg("orange"),
    }


def patch_last_central_record(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Rewrite one field of the last entry's central-directory record: how hostile zips are made."""
    patched = bytearray(data)
    struct.pack_into(fmt, patched, patched.rindex(b"PK\x01\x02") + offset, value)
    return bytes(patched)


def assert_refused(data: bytes, data_root: Path, match: str, **limits: int) -> None:
    """The zip is refused with a message containing `match`, and `data_root` holds nothing afterwards."""
    with pytest.raises(ArchiveError, match=match):
        extract_dataset_zip(io.BytesIO(data), data_root, "upload", **limits)
    assert not data_root.exists() or list(data_root.iterdir()) == []


# --- happy paths -----------------------------------------------------------------------------------------------


def test_unwrapped_zip_extracts_into_a_new_named_folder_without_junk(tmp_path: Path) -> None:
    junk = {"__MACOSX/train/hotdog/._a.jpg": b"x", "train/.DS_Store": b"x", "train/hotdog/Thumbs.db": b"x"}
    root = extract_dataset_zip(io.BytesIO(make_zip({**dataset_entries(), **junk})), tmp_path, "My Photos!")
    assert root == tmp_path / "My-Photos"
    files = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    assert files == ["test/hotdog/c.jpg", "train/hotdog/a.jpg", "train/nohotdog/b.jpg"]
    assert (root / "train/hotdog/a.jpg").read_bytes() == jpeg("red")


def test_wrapped_zip_returns_the_folder_holding_train_and_takes_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "hotdog.zip"
    path.write_bytes(make_zip({"README.txt": b"hi", "hotdog/README.txt": b"hi", **dataset_entries("hotdog/")}))
    root = extract_dataset_zip(path, tmp_path / "data")
    assert root == tmp_path / "data" / "hotdog" / "hotdog"
    assert (root / "train" / "nohotdog" / "b.jpg").is_file()


def test_split_names_read_by_hotdog_data_count_as_train(tmp_path: Path) -> None:
    root = extract_dataset_zip(io.BytesIO(make_zip(dataset_entries("photos/", train="Training"))), tmp_path, "x")
    assert root == tmp_path / "x" / "photos"


def test_a_second_upload_with_the_same_name_gets_a_fresh_folder(tmp_path: Path) -> None:
    upload = io.BytesIO(make_zip(dataset_entries("data/")))
    upload.name = "../../hotdog.zip"  # what Streamlit's UploadedFile carries; sanitized to its file name
    first = extract_dataset_zip(upload, tmp_path)
    second = extract_dataset_zip(io.BytesIO(upload.getvalue()), tmp_path, "hotdog")
    assert (first, second) == (tmp_path / "hotdog" / "data", tmp_path / "hotdog-2" / "data")


# --- refusals ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("../x.jpg", "'../x.jpg': path leaves the dataset folder"),
        ("train/../../x.jpg", "path leaves the dataset folder"),
        ("/etc/x", "'/etc/x': path leaves the dataset folder"),
        ("C:/x.jpg", "'C:/x.jpg': Windows-style path"),
        ("train\\hotdog\\x.jpg", "Windows-style path"),
    ],
)
def test_paths_escaping_the_folder_are_refused(tmp_path: Path, entry: str, reason: str) -> None:
    assert_refused(make_zip({**dataset_entries(), entry: b"x"}), tmp_path, reason)


def test_symlink_entry_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("train/hotdog/passwd.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buffer = io.BytesIO(make_zip(dataset_entries()))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(link, "/etc/passwd")
    assert_refused(buffer.getvalue(), tmp_path, "'train/hotdog/passwd.jpg': symbolic link")


def test_too_many_entries_is_refused(tmp_path: Path) -> None:
    assert_refused(make_zip(dataset_entries()), tmp_path, r"too many entries \(3, limit 2\)", max_files=2)


def test_entries_are_counted_from_the_zips_own_records(tmp_path: Path) -> None:
    honest = make_zip(dataset_entries())
    assert archives.count_entries(io.BytesIO(honest), 100) == 3
    commented = io.BytesIO()
    with zipfile.ZipFile(commented, "w") as archive:
        archive.comment = b"c" * 60_000
        for name, data in dataset_entries().items():
            archive.writestr(zipfile.ZipInfo(name), data)
    assert archives.count_entries(io.BytesIO(commented.getvalue()), 100) == 3
    many = hostile.many_entries_zip(70_000)  # past the 65,535 a plain record can count: ZIP64
    assert archives.count_entries(io.BytesIO(many), 100) == 70_000 == len(zipfile.ZipFile(io.BytesIO(many)).infolist())
    lying = bytearray(honest)
    struct.pack_into("<2H", lying, lying.rindex(b"PK\x05\x06") + 8, 1, 1)  # the end record claims one entry
    assert archives.count_entries(io.BytesIO(bytes(lying)), 100) == 3  # the records themselves are counted
    assert archives.count_entries(io.BytesIO(jpeg()), 100) == 0  # not a zip: zipfile says so afterwards
    source = io.BytesIO(honest)
    source.seek(5)
    archives.count_entries(source, 100)
    assert source.tell() == 5


def test_two_million_entries_are_refused_before_zipfile_lists_them(tmp_path: Path) -> None:
    """A 94 MB zip of 2,000,000 empty entries took zipfile 1.2 GB (and 12 s) to list before the check; the count
    now comes from the zip's own records, so refusing it allocates next to nothing."""
    path = tmp_path / "many.zip"
    path.write_bytes(hostile.many_entries_zip(2_000_000))
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=r"^too many entries \(2,000,000, limit 20,000\)$"):
            extract_dataset_zip(path, tmp_path / "data")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"Python allocations refusing 2,000,000 entries: {peak / 1e6:.1f} MB at most")
    assert peak < 10_000_000 and not (tmp_path / "data").exists()


def test_too_many_bytes_is_refused(tmp_path: Path) -> None:
    entries = {"train/hotdog/big.jpg": os.urandom(5000), **dataset_entries()}
    assert_refused(make_zip(entries), tmp_path, r"unpacks to [\d,]+ bytes, limit 4,000 bytes", max_total_bytes=4000)


def test_size_is_counted_while_writing_not_only_from_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "_check_declared_size", lambda members, limit: None)  # as if the headers lied
    entries = {**dataset_entries(), "train/hotdog/big.jpg": os.urandom(5000)}
    assert_refused(make_zip(entries), tmp_path, "more than the limit of 4,000 bytes", max_total_bytes=4000)


def test_entry_whose_header_lies_about_its_size_is_refused(tmp_path: Path) -> None:
    data = make_zip({**dataset_entries(), "train/hotdog/big.jpg": os.urandom(5000)}, zipfile.ZIP_STORED)
    lying = patch_last_central_record(data, 24, "<I", 10)  # big.jpg claims 10 bytes uncompressed
    assert_refused(lying, tmp_path, "cannot unpack entry 'train/hotdog/big.jpg'")


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    entries = {**dataset_entries(), "train/hotdog/zeros.jpg": bytes(1_000_000)}
    assert_refused(make_zip(entries), tmp_path, "'train/hotdog/zeros.jpg': compression ratio over 100")


def test_nested_archive_is_refused(tmp_path: Path) -> None:
    entries = {**dataset_entries(), "train/hotdog/more.zip": make_zip(dataset_entries())}
    assert_refused(make_zip(entries), tmp_path, "'train/hotdog/more.zip': archive inside the archive")


def test_password_protected_entry_is_refused(tmp_path: Path) -> None:
    data = make_zip({**dataset_entries(), "train/hotdog/secret.jpg": b"x"})
    encrypted = patch_last_central_record(data, 8, "<H", 0x1)  # general-purpose flag bit 0: encrypted
    assert_refused(encrypted, tmp_path, "'train/hotdog/secret.jpg': password-protected")


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    assert_refused(jpeg(), tmp_path, "not a zip file")


def test_zip_without_train_folder_is_refused(tmp_path: Path) -> None:
    entries = {"hotdog/a.jpg": jpeg(), "nohotdog/b.jpg": jpeg()}
    assert_refused(make_zip(entries), tmp_path, "no train/ folder")


# --- photos uploaded per class ------------------------------------------------------------------------------------


def test_uploaded_photos_become_a_train_folder_with_safe_unique_names(tmp_path: Path) -> None:
    files = {
        "hotdog": [("IMG 1.JPG", jpeg("red")), ("IMG 1.JPG", jpeg("orange")), ("../../evil.png", b"png")],
        "nohotdog": [("C:\\Users\\me\\salad.jpeg", jpeg("green"))],
    }
    root = save_uploaded_photos(files, tmp_path, "class photos")
    assert root == tmp_path / "class-photos"
    names = {label: sorted(path.name for path in (root / "train" / label).iterdir()) for label in files}
    assert names == {"hotdog": ["IMG-1-2.jpg", "IMG-1.jpg", "evil.png"], "nohotdog": ["salad.jpeg"]}


def test_uploaded_photos_refuse_a_class_without_photos(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no photos uploaded for class 'nohotdog'"):
        save_uploaded_photos({"hotdog": [("a.jpg", jpeg())], "nohotdog": []}, tmp_path, "class")
    assert list(tmp_path.iterdir()) == []


def start_slow_import(data_root: Path, zip_path: Path, others: set[Path]) -> tuple[subprocess.Popen, Path]:
    """A real import in its own process, slowed down; returns it once its unpacking folder holds a photo."""
    process = subprocess.Popen([sys.executable, "-c", hostile.SLOW_IMPORT, str(data_root), str(zip_path)],
                               cwd=REPO, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partials = {path for path in data_root.glob(f"{archives.PARTIAL_PREFIX}*") if path.is_dir()} - others
        if partials and any(next(iter(partials)).rglob("*.jpg")):
            return process, partials.pop()
        time.sleep(0.02)
    process.kill()
    raise AssertionError("the slow import never started unpacking")


def test_an_import_killed_mid_way_is_cleaned_up_next_time_and_one_in_progress_is_not(tmp_path, tiny_dataset,
                                                                                     monkeypatch):
    """kill -9 in the middle of unpacking used to leave its .partial-* folder (556 MB for a real dataset) for good."""
    zip_path, data_root = tmp_path / "big.zip", tmp_path / "data"
    zip_path.write_bytes(hostile.big_dataset_zip())
    killed, left = start_slow_import(data_root, zip_path, set())
    killed.kill()
    killed.wait()
    assert left.is_dir() and any(left.rglob("*.jpg"))  # what kill -9 leaves
    working, in_progress = start_slow_import(data_root, zip_path, {left})

    extract_dataset_zip(io.BytesIO(make_zip(dataset_entries())), data_root, "small")  # the next import
    assert not left.exists() and in_progress.is_dir()  # the abandoned one is gone, the live one untouched
    working.kill()
    working.wait()

    monkeypatch.setenv("HOTDOG_DATA_DIR", str(data_root))
    workspace.use_dataset(tiny_dataset)
    app = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=60)
    app.session_state["worker_started"] = True  # no warm training worker: nothing here trains
    app.run()
    assert not app.exception and not in_progress.exists()  # the app's next start cleans up too
    assert sorted(path.name for path in data_root.iterdir()) == ["small", workspace.WORKSPACE_FILE]
