"""load_model: local folders, Hub ids served from the cache, identities that key the cache, lazy loading."""

import pickle

import pytest
import torch
from datasets import Dataset
from huggingface_hub import HfApi

from hf_select import GlobalNaturalness, load_model
from hf_select.models import ScoringModel


def test_local_folder_loads_in_eval_mode_without_grad(llama):
    assert not llama.model.training and not any(p.requires_grad for p in llama.model.parameters())
    assert llama.device == "cpu" and llama.dtype == torch.float32 and llama.max_length == 1024
    assert llama.identity.startswith("dir:llama:") and llama.identity.endswith("|float32")


def test_identity_needs_no_weights_and_changes_with_the_files(tiny_root, tmp_path):
    lazy = load_model(str(tiny_root / "llama"), device="cpu", lazy=True)
    assert lazy.identity == load_model(str(tiny_root / "llama"), device="cpu").identity
    assert not lazy.loaded  # computed from file digests alone: a cached rerun never loads weights
    import shutil

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
        assert rows.map(GlobalNaturalness(cached))["global_naturalness"] == \
            pytest.approx(rows.map(GlobalNaturalness(local))["global_naturalness"])
    finally:
        hub.start()


def test_a_path_that_does_not_exist_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such local file or folder, and not a Hub id"):
        load_model(str(tmp_path / "missing"), lazy=True).identity  # noqa: B018
