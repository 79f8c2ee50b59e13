"""hf_select._compat is the only place that leans on `datasets` beyond its public API: pin the supported range,
and check that what it writes is byte for byte what `Dataset.push_to_hub` writes."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import pytest
from datasets import Dataset, DownloadMode
from huggingface_hub import DatasetCard
from packaging.specifiers import SpecifierSet

from hf_select import _compat

ROOT = Path(__file__).resolve().parent.parent


def test_the_supported_datasets_range_is_pinned_and_installed():
    spec = re.search(r'"(datasets[^"]*)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert SpecifierSet(spec.removeprefix("datasets")) == SpecifierSet(_compat.SUPPORTED_DATASETS)
    assert datasets.__version__ in SpecifierSet(_compat.SUPPORTED_DATASETS)


def test_private_api_is_where_it_is_expected():
    ds = Dataset.from_dict({"x": [3, 1, 2]}).shuffle(seed=0)
    assert _compat.logical_table(ds, ["x"]).column("x").to_pylist() == ds["x"]
    assert isinstance(_compat.fingerprint(ds), str) and _compat.estimate_nbytes(ds) > 0
    assert re.match(_compat.SPLIT_NAME, "train") and not re.match(_compat.SPLIT_NAME, "../x")
    seen = []
    Dataset.from_dict({"x": [1, 2]}).map(lambda b: seen.append(_compat.is_batch(b, ["x"])) or {}, batched=True)
    Dataset.from_dict({"x": [[1, 2]]}).map(lambda r: seen.append(_compat.is_batch(r, ["x"])) or {})
    assert seen == [True, False]
    assert _compat.dataset_from_arrow(_compat.logical_table(ds)).to_dict() == ds.flatten_indices().to_dict()
    assert _compat.hash_callable(len) == _compat.hash_callable(len) != _compat.hash_callable(sorted)
    with pytest.raises(Exception, match="Invalid config name"):
        _compat.check_config_name("data")


@pytest.mark.usefixtures("strict_hub")
def test_the_layout_is_what_push_to_hub_writes(hub, hub_repo_id, tmp_path):
    """Two splits and a rewrite, through `Dataset.push_to_hub` and through `_compat`: same files, same bytes,
    same ``configs``/``dataset_info``."""
    local = tmp_path / "layout"
    card = None
    steps = [
        ("train", Dataset.from_dict({"q": ["a", "b", "c"], "s": [0.5, 1.0, 2.0]})),
        ("test", Dataset.from_dict({"q": ["d"], "s": [3.0]})),
        ("train", Dataset.from_dict({"q": ["e"], "s": [4.0]})),
    ]
    for split, ds in steps:
        ds.push_to_hub(hub_repo_id, split=split)
        stale = sorted(local.glob(f"data/{split}-*"))
        deleted = sum(p.stat().st_size for p in stale)
        for path in stale:
            path.unlink()
        _, uploaded = _compat.write_parquet_shards(ds, local, "default", split)
        card = _compat.updated_data_card(card, "default", _compat.split_info(ds, split), ds.features, uploaded, deleted)
        files = hub.repo(hub_repo_id).head().files
        remote = {path: f.content for path, f in files.items() if path.startswith("data/")}
        assert remote == {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*.parquet")}
        hub_card = DatasetCard(files["README.md"].content.decode())
        assert card.data.to_dict() == hub_card.data.to_dict()
        described = {(c, s): patterns for c, s, patterns, _, _ in _compat.card_splits(hub_card)}
        assert described[("default", split)] == [f"data/{split}-*"]
    loaded = datasets.load_dataset(hub_repo_id, download_mode=DownloadMode.FORCE_REDOWNLOAD)
    assert loaded["train"]["q"] == ["e"] and loaded["test"]["q"] == ["d"]
