"""Results rows: a new measurement replaces a row and keeps the one it replaced."""

from __future__ import annotations

from keyscaffold.provenance import keep_earlier, keep_in_list, provenance


def test_a_replaced_row_is_kept_under_earlier_newest_first():
    first = {"task": "t", "value": 1}
    assert keep_earlier({"task": "t", "value": 2}, None) == {"task": "t", "value": 2}
    second = keep_earlier({"task": "t", "value": 2}, first)
    third = keep_earlier({"task": "t", "value": 3}, second)
    assert [r["value"] for r in third["earlier"]] == [2, 1]
    assert all("earlier" not in r for r in third["earlier"])
    assert "earlier" in second  # the caller's row is not changed
    # a row written by an older script holds a single earlier row, not a list
    legacy = keep_earlier({"value": 3}, {"value": 2, "earlier": {"value": 1}})
    assert [r["value"] for r in legacy["earlier"]] == [2, 1]


def test_a_list_of_entries_replaces_the_entry_of_the_same_command_only():
    entries = [{"command": "a", "value": 1}, {"command": "b", "value": 2}]
    entries = keep_in_list(entries, {"command": "a", "value": 3})
    assert [(e["command"], e["value"]) for e in entries] == [("b", 2), ("a", 3)]
    assert entries[1]["earlier"] == [{"command": "a", "value": 1}]
    entries = keep_in_list(entries, {"command": "c", "value": 4})
    assert [e["command"] for e in entries] == ["b", "a", "c"] and "earlier" not in entries[2]


def test_provenance_names_commit_date_and_machine():
    meta = provenance()
    assert {"commit", "date", "machine", "cores"} <= set(meta)
