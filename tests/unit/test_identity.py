import json
from pathlib import Path

from common import identity


def _write(state_dir: Path, data: dict[str, str]) -> None:
    (state_dir / identity.FILE).write_text(json.dumps(data))


def test_an_identity_written_before_names_were_kept_loads_with_the_hosts_name(
    tmp_path: Path,
) -> None:
    _write(tmp_path, {"node_id": "n1", "cluster_id": "c1", "manager": "10.0.0.1:7462"})
    known = identity.load(tmp_path)
    assert known is not None
    assert known.hostname == ""


def test_a_rename_is_kept_for_the_next_load(tmp_path: Path) -> None:
    _write(tmp_path, {"node_id": "n1", "cluster_id": "c1", "manager": "m:7462", "hostname": "a"})
    known = identity.load(tmp_path)
    assert known is not None
    identity.rename(tmp_path, known, "db-1.example")
    assert identity.load(tmp_path) == identity.Identity("n1", "c1", "m:7462", "db-1.example")
