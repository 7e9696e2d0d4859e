"""The in-process org harness (tests/orgdb_helpers.py) pages and maps objects like the local org.

A harness that lies would make every collector test built on it worthless.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.api.client import ObjectNotAvailable
from tests.orgdb_helpers import OrgDbClient, build_org


def test_harness_pages_like_the_local_org(tmp_path: Path) -> None:
    db, _, _ = build_org(tmp_path, logins=4500, users=10, tokens_per_user=5, licensed=False)
    client = OrgDbClient(db)
    pages = list(client.query_pages("SELECT Id FROM LoginHistory ORDER BY LoginTime, Id"))
    assert [len(p.records) for p in pages] == [2000, 2000, 500]
    assert client.budget.calls == 3


def test_harness_maps_unlicensed_objects(tmp_path: Path) -> None:

    db, _, _ = build_org(tmp_path, logins=10, users=3, tokens_per_user=1, licensed=False)
    with pytest.raises(ObjectNotAvailable):
        list(OrgDbClient(db).query("SELECT EventIdentifier FROM LoginEvent"))
