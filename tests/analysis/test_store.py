"""The on-disk outline store: round trip, trimming, and never failing a run."""

from __future__ import annotations

import sqlite3

import pytest

from cartriage.analysis import languages, store
from cartriage.analysis.symbols import outline


def test_round_trip_and_unknown_keys(tmp_path):
    result = outline(languages.get("python"), b"import os\n\n\ndef f(x):\n    return x\n")
    db = store.connect(tmp_path / "cache")
    store.put(db, {"abc:python": store.encode(result)})
    found = store.get(db, ["abc:python", "missing:python"])
    assert list(found) == ["abc:python"]
    assert found["abc:python"] == result


def test_oldest_rows_go_first_when_the_store_outgrows_its_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MAX_ROWS", 5)
    monkeypatch.setattr(store, "KEEP_ROWS", 3)
    db = store.connect(tmp_path)
    empty = store.encode(outline(languages.get("python"), b"x = 1\n"))
    for n in range(6):
        store.put(db, {f"{n}:python": empty})
    assert sorted(store.get(db, [f"{n}:python" for n in range(6)])) == [
        "3:python", "4:python", "5:python"]


def test_unusable_stores_are_no_store(tmp_path):
    assert store.connect(None) is None
    assert store.get(None, ["a:python"]) == {}
    store.put(None, {"a:python": "[]"})
    (tmp_path / store.FILE).write_bytes(b"not a database" * 100)
    db = store.connect(tmp_path)
    assert store.get(db, ["a:python"]) == {}
    store.put(db, {"a:python": "[]"})  # no exception
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")
    assert store.connect(blocked / "cartriage") is None  # cannot create the folder


def test_recent_outlines_are_served_from_memory_the_newest_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "RECENT_ROWS", 2)
    made = {f"{n}:python": outline(languages.get("python"), f"def f{n}():\n    pass\n".encode())
            for n in range(3)}
    db = store.connect(tmp_path)
    store.keep(made)  # outside `recent()`: nothing is kept
    assert store.get(db, list(made)) == {}
    with store.recent():
        store.keep(made)
        found = store.get(None, list(made))
        assert found == {k: made[k] for k in ("1:python", "2:python")}
        assert found["2:python"] is made["2:python"]  # the same object: not decoded again
        store.put(db, {"0:python": store.encode(made["0:python"])})
        assert store.get(db, list(made)) == made  # the rest from the store
    assert store.get(None, list(made)) == {}


def test_within_recent_one_connection_serves_every_caller_and_is_closed_at_the_end(tmp_path):
    empty = store.encode(outline(languages.get("python"), b"x = 1\n"))
    with store.recent():
        first = store.connect(tmp_path)
        store.put(first, {"a:python": empty})
        first.close()  # a caller's close leaves it open for the next
        second = store.connect(tmp_path)
        assert second is first
        assert list(store.get(second, ["a:python"])) == ["a:python"]  # not from memory: put
        assert store.connect(tmp_path / "other") is not first
    with pytest.raises(sqlite3.ProgrammingError):  # closed when `recent()` ended
        first.execute("SELECT 1")
    db = store.connect(tmp_path)
    assert db is not first and list(store.get(db, ["a:python"])) == ["a:python"]
    db.close()
