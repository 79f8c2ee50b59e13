"""load_model: local folders, Hub ids served from the cache, identities that key the cache, lazy loading."""

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from huggingface_hub import HfApi

from hf_select import GlobalNaturalness, load_model, score
from hf_select.models import ScoringModel


def test_local_folder_loads_in_eval_mode_without_grad(llama):
    assert not llama.model.training and not any(p.requires_grad for p in llama.model.parameters())
    assert llama.device == "cpu" and llama.dtype == torch.float32 and llama.max_length == 1024
    assert llama.identity.startswith("dir:llama:") and llama.identity.endswith("|float32")


def test_identity_needs_no_weights_and_changes_with_the_files(tiny_root, tmp_path):
    lazy = load_model(str(tiny_root / "llama"), device="cpu", lazy=True)
    assert lazy.identity == load_model(str(tiny_root / "llama"), device="cpu").identity
    assert not lazy.loaded  # computed from file digests alone: a cached rerun never loads weights
    copy = tmp_path / "llama"
    shutil.copytree(tiny_root / "llama", copy)
    assert load_model(str(copy), device="cpu", lazy=True).identity == lazy.identity  # content, not path
    (copy / "config.json").write_text((copy / "config.json").read_text().replace('"rms_norm_eps"', '"rms_norm_eps" '))
    assert load_model(str(copy), device="cpu", lazy=True).identity != lazy.identity
    assert load_model(str(tiny_root / "llama"), device="cpu", dtype="bfloat16", lazy=True).identity != lazy.identity


def test_pickling_ships_the_spec_not_the_weights(llama):
    clone = pickle.loads(pickle.dumps(llama))
    assert isinstance(clone, ScoringModel) and not clone.loaded and clone.identity == llama.identity
    assert len(pickle.dumps(llama)) < 10_000


def test_release_frees_weights_that_reload_on_demand(tiny_root):
    model = load_model(str(tiny_root / "nobos"), device="cpu")
    model.release()
    assert not model.loaded
    assert model.model is not None and model.loaded


def test_hub_id_downloads_once_then_loads_from_the_cache(hub, tiny_root):
    repo_id = f"{hub.username}/tiny-llama-model"
    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(folder_path=str(tiny_root / "llama"), repo_id=repo_id)
    rows = Dataset.from_list([{"prompt": "What is 6 times 7?", "response": "6 * 7 = 42."}])
    first = load_model(repo_id, device="cpu")
    assert first.identity.startswith(f"hub:{repo_id}@")
    cached = load_model(repo_id, device="cpu", lazy=True)
    hub.stop()  # no network from here on: the snapshot in the local cache serves everything
    try:
        assert cached.identity == first.identity  # the commit names the files, with or without the network
        local = load_model(str(tiny_root / "llama"), device="cpu")
        assert rows.map(GlobalNaturalness(cached))["global_naturalness"] == pytest.approx(
            rows.map(GlobalNaturalness(local))["global_naturalness"]
        )
    finally:
        hub.start()


def test_a_path_that_does_not_exist_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such local file or folder, and not a Hub id"):
        load_model(str(tmp_path / "missing"), lazy=True).identity  # noqa: B018


# -- identities change with every byte (issue: stale scores) --------------------------------------------------
def _rewrite_keeping_size_and_mtime(path, change):
    """Overwrite a file in place with other bytes of the same size, then restore its modification time
    (what `cp -p`, `rsync -a` or `touch -r` leave behind)."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    change(data)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def _flip_last_byte(data):
    data[-1] ^= 1


def test_same_size_and_mtime_rewrite_changes_the_identity(tiny_root, tmp_path):
    copy = tmp_path / "llama"
    shutil.copytree(tiny_root / "llama", copy)
    before = load_model(str(copy), device="cpu", lazy=True).identity
    _rewrite_keeping_size_and_mtime(copy / "model.safetensors", _flip_last_byte)
    assert load_model(str(copy), device="cpu", lazy=True).identity != before


def test_a_folder_named_like_the_hub_cache_earns_no_trust(tiny_root, tmp_path):
    fake = tmp_path / "models--me--tiny" / "snapshots" / "0123abc"
    shutil.copytree(tiny_root / "llama", fake)
    before = load_model(str(fake), device="cpu", lazy=True).identity
    assert not before.startswith("hub:")  # plain files, not verified blobs: identified by content
    _rewrite_keeping_size_and_mtime(fake / "model.safetensors", _flip_last_byte)
    assert load_model(str(fake), device="cpu", lazy=True).identity != before


def test_large_files_are_hashed_in_full(tmp_path):
    """Two 600 MiB files that differ only between the slices an older version sampled get two digests."""
    from hf_select.identity import file_digests

    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    for path in (a, b):
        with open(path, "wb") as f:
            f.truncate(600 * 2**20)  # sparse: cheap to make
    with open(b, "r+b") as f:
        f.seek(100 * 2**20)
        f.write(b"\x01")
    assert file_digests(a)["sha256"] != file_digests(b)["sha256"]


def test_a_verified_hub_snapshot_is_named_by_its_commit_until_a_blob_changes(hub, tiny_root):
    repo_id = f"{hub.username}/tiny-llama-verified"
    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(folder_path=str(tiny_root / "llama"), repo_id=repo_id)
    load_model(repo_id, device="cpu")  # downloads into the cache
    model = load_model(repo_id, device="cpu", lazy=True)
    folder = model._location()[0]
    assert "/snapshots/" in folder and model.identity.startswith(f"hub:{repo_id}@")
    # Weights replaced in place (through the snapshot's link, into the blob): no longer a verified blob.
    _rewrite_keeping_size_and_mtime(Path(folder) / "model.safetensors", _flip_last_byte)
    changed = load_model(folder, device="cpu", lazy=True).identity
    assert not changed.startswith("hub:") and changed != model.identity


def test_changed_weights_are_never_served_from_the_score_cache(tiny_root, tmp_path):
    copy = tmp_path / "llama"
    shutil.copytree(tiny_root / "llama", copy)
    rows = Dataset.from_list([{"prompt": "What is 6 times 7?", "response": "6 * 7 = 42."}])
    first = score(rows, GlobalNaturalness(load_model(str(copy), device="cpu", lazy=True)))
    from safetensors.torch import load_file, save_file

    weights = load_file(copy / "model.safetensors")
    weights = {name: tensor * 1.5 if name.endswith("norm.weight") else tensor for name, tensor in weights.items()}
    stat = (copy / "model.safetensors").stat()
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    os.utime(copy / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = score(rows, GlobalNaturalness(load_model(str(copy), device="cpu", lazy=True)))
    assert second["global_naturalness"] != first["global_naturalness"]
