"""recordings.store: the one place that knows where footage lives (the local backend, as every other module sees it)."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest

from recordings.store import LocalStore, describe_failure, owner_of, picture_keys, segment_key, start_of


def test_keys_name_the_camera_by_uid_and_carry_the_start():
    uid = str(uuid.uuid4())
    start = dt.datetime(2026, 12, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    key = segment_key(uid, start)
    assert key == f"{uid}/2026/12/02/03/20261202T030405.678000Z.mp4"
    assert owner_of(key) == uid and start_of(key) == start
    assert start_of("yard/2026/12/02/03/notes.mp4") is None
    snapshot, thumbnail = picture_keys(uid, 42, start)
    assert snapshot == f"event.snapshots/{uid}/2026/12/02/42.jpg" and thumbnail.endswith("/42.thumb.jpg")


def test_write_read_list_and_delete(tmp_path):
    store = LocalStore(tmp_path / "store")
    assert list(store.walk()) == [] and list(store.staged()) == []  # a store not made yet is empty
    staged = store.staging("cam/a.mp4")
    staged.write_bytes(b"0123456789")
    assert [key for key, _, _ in store.staged()] == ["cam/a.mp4"]
    assert list(store.walk()) == []  # staged files are not footage yet
    assert store.commit("cam/a.mp4", staged) == 10
    store.put("event.snapshots/cam/1.jpg", b"\xff\xd8")
    assert sorted(f.key for f in store.walk()) == ["cam/a.mp4", "event.snapshots/cam/1.jpg"]
    with store.open("cam/a.mp4") as file:
        file.seek(4)
        assert file.read(3) == b"456"  # a Range is a seek and a read
    assert store.size("cam/a.mp4") == 10
    assert store.delete("cam/a.mp4") and not store.delete("cam/a.mp4")
    with pytest.raises(FileNotFoundError):
        store.open("cam/a.mp4")
    assert store.space() is not None and store.readable() and store.writable() and store.problem() == ""


@pytest.mark.parametrize("key", ["../outside.mp4", "/etc/passwd", "cam/../../x", ""])
def test_a_key_never_reaches_outside_the_store(tmp_path, key):
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ValueError):
        store.open(key)
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_problems_are_said_in_an_operators_words(tmp_path):
    if os.geteuid() == 0:
        store = LocalStore("/proc/nvr-recordings")  # not even root can write there
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        store = LocalStore(tmp_path / "ro" / "store")
    problem = store.problem()
    assert problem.startswith("RECORDINGS_DIR (") and ("cannot be written" in problem or "not writable" in problem)
    assert describe_failure(OSError(28, "No space left on device")) == "the recordings disk is full"
    assert describe_failure(RuntimeError("boom")) == "writing a recording failed (RuntimeError)"
