"""Results rows: a new measurement replaces a row and keeps the one it replaced."""

from __future__ import annotations

from keyscaffold.provenance import keep_earlier, provenance


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


def test_provenance_names_commit_date_and_machine():
    meta = provenance()
    assert {"commit", "date", "machine", "cores"} <= set(meta)
