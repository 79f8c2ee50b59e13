"""Acceptance tests of the fake Hub (tests/hub_server.py): the real clients, over real HTTP.

Every test uses its own repo id (`hub_repo_id`), so the clients' caches (under the throw-away HF_HOME
set by conftest.py) can never answer in place of the server.
"""

import struct
import threading
import zlib

import pytest
from datasets import Dataset, DatasetDict, DownloadMode, load_dataset
from hub_server import HubServer
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    DatasetCard,
    HfApi,
    hf_hub_download,
)
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

ROWS = {"text": ["alpha", "beta", "gamma"], "label": [0, 1, 0]}


pytestmark = pytest.mark.usefixtures("strict_hub")


def _png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG image, built with the standard library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes([200, 30, 30]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _downloaded(hub: HubServer, repo_id: str, path: str) -> bool:
    """Whether a client GET the file from the server (proof that it did not come from a local cache)."""
    return any(r.method == "GET" and f"/datasets/{repo_id}/resolve/" in r.path and path in r.path for r in hub.requests)


def test_push_to_hub_then_load_dataset_and_card(hub: HubServer, hub_repo_id: str) -> None:
    Dataset.from_dict(ROWS).push_to_hub(hub_repo_id, split="train")

    head = hub.repo(hub_repo_id).head()
    parquet_files = [path for path in head.files if path.startswith("data/train-")]
    assert parquet_files == ["data/train-00000-of-00001.parquet"]
    assert head.files[parquet_files[0]].lfs  # went through preupload -> LFS batch -> PUT -> verify
    assert not head.files["README.md"].lfs

    loaded = load_dataset(hub_repo_id, download_mode=DownloadMode.FORCE_REDOWNLOAD)
    assert isinstance(loaded, DatasetDict)
    assert list(loaded) == ["train"]
    assert loaded["train"].to_dict() == ROWS
    assert _downloaded(hub, hub_repo_id, parquet_files[0])

    card = DatasetCard.load(hub_repo_id)
    assert str(card) == head.text("README.md")
    assert card.data.configs == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    assert [split["name"] for split in card.data.dataset_info["splits"]] == ["train"]
    assert card.data.dataset_info["splits"][0]["num_examples"] == 3


def test_second_split_keeps_the_first(hub: HubServer, hub_repo_id: str) -> None:
    Dataset.from_dict(ROWS).push_to_hub(hub_repo_id, split="train")
    Dataset.from_dict({"text": ["delta"], "label": [1]}).push_to_hub(hub_repo_id, split="test")

    loaded = load_dataset(hub_repo_id, download_mode=DownloadMode.FORCE_REDOWNLOAD)
    assert sorted(loaded) == ["test", "train"]
    assert loaded["train"].to_dict() == ROWS
    assert loaded["test"].to_dict() == {"text": ["delta"], "label": [1]}

    card = DatasetCard.load(hub_repo_id)
    (config,) = card.data.configs
    assert sorted(entry["split"] for entry in config["data_files"]) == ["test", "train"]
    assert sorted(split["name"] for split in card.data.dataset_info["splits"]) == ["test", "train"]
    # push_to_hub committed with `parentCommit`, on top of the previous push.
    assert [c.title for c in hub.repo(hub_repo_id).log()] == ["Upload dataset"] * 2 + ["initial commit"]


def test_push_to_branch_leaves_main_untouched(hub: HubServer, hub_repo_id: str) -> None:
    Dataset.from_dict(ROWS).push_to_hub(hub_repo_id, split="train")
    main_before = hub.repo(hub_repo_id).head("main").oid

    HfApi().create_branch(hub_repo_id, branch="dev", repo_type="dataset")
    dev_rows = {"text": ["on", "dev"], "label": [5, 6]}
    # push_to_hub calls create_branch(exist_ok=True) itself: the 409 must be tolerated.
    Dataset.from_dict(dev_rows).push_to_hub(hub_repo_id, split="train", revision="dev")

    repo = hub.repo(hub_repo_id)
    assert repo.head("main").oid == main_before
    assert repo.head("dev").parent == main_before
    refs = HfApi().list_repo_refs(hub_repo_id, repo_type="dataset")
    assert sorted(branch.name for branch in refs.branches) == ["dev", "main"]

    mode = DownloadMode.FORCE_REDOWNLOAD
    assert load_dataset(hub_repo_id, split="train", revision="dev", download_mode=mode).to_dict() == dev_rows
    assert load_dataset(hub_repo_id, split="train", download_mode=mode).to_dict() == ROWS


def test_create_commit_with_image_and_card_then_card_push(hub: HubServer, hub_repo_id: str) -> None:
    api = HfApi()
    api.create_repo(hub_repo_id, repo_type="dataset")
    image = _png()
    card = DatasetCard("---\nlicense: mit\n---\n# Pixels\n\nOne red image.\n")
    api.create_commit(
        hub_repo_id,
        repo_type="dataset",
        operations=[
            CommitOperationAdd(path_in_repo="images/red.png", path_or_fileobj=image),
            CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode()),
        ],
        commit_message="Add an image and a card",
    )

    head = hub.repo(hub_repo_id).head()
    assert head.title == "Add an image and a card"
    assert head.files["images/red.png"].lfs and not head.files["README.md"].lfs
    path = hf_hub_download(hub_repo_id, "images/red.png", repo_type="dataset")
    with open(path, "rb") as file:
        assert file.read() == image
    assert _downloaded(hub, hub_repo_id, "images/red.png")

    edited = DatasetCard.load(hub_repo_id)
    assert edited.data.license == "mit"
    edited.data.license = "apache-2.0"
    edited.push_to_hub(hub_repo_id, commit_message="Relicense")
    assert any(r.method == "POST" and r.path == "/api/validate-yaml" and r.status == 200 for r in hub.requests)
    assert "license: apache-2.0" in hub.repo(hub_repo_id).head().text("README.md")
    assert DatasetCard.load(hub_repo_id).data.license == "apache-2.0"

    with pytest.raises(ValueError, match="Invalid metadata"):  # the Hub rejects an unclosed front matter
        api.upload_file(
            path_or_fileobj=b"---\nlicense: mit\n",
            path_in_repo="README.md",
            repo_id=hub_repo_id,
            repo_type="dataset",
        )


def test_private_repo_and_exist_ok(hub: HubServer, hub_repo_id: str) -> None:
    Dataset.from_dict(ROWS).push_to_hub(hub_repo_id, split="train", private=True)
    assert hub.repo(hub_repo_id).private
    assert HfApi().dataset_info(hub_repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).dataset_info(hub_repo_id)

    api = HfApi()
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(hub_repo_id, repo_type="dataset")
    assert conflict.value.response.status_code == 409
    url = api.create_repo(hub_repo_id, repo_type="dataset", exist_ok=True)
    assert url.repo_id == hub_repo_id and url.repo_type == "dataset"
    assert hub.repo_ids("dataset").count(hub_repo_id) == 1

    public_id = hub_repo_id + "-public"
    api.create_repo(public_id, repo_type="model")
    assert not hub.repo(public_id, repo_type="model").private


def test_tree_pagination_paths_info_and_deletes(hub: HubServer, hub_repo_id: str) -> None:
    api = HfApi()
    api.create_repo(hub_repo_id, repo_type="dataset")
    files = {f"dir/sub{i % 2}/f{i}.txt": f"file {i}\n".encode() for i in range(5)}
    api.create_commit(
        hub_repo_id,
        repo_type="dataset",
        operations=[CommitOperationAdd(path, content) for path, content in files.items()],
        commit_message="many files",
    )
    hub.tree_page_size = 2
    try:
        listed = {entry.path for entry in api.list_repo_tree(hub_repo_id, repo_type="dataset", recursive=True)}
    finally:
        hub.tree_page_size = 1000
    assert listed == {".gitattributes", "dir", "dir/sub0", "dir/sub1", *files}
    assert sum(1 for r in hub.requests if "/tree/" in r.path) == 5  # 9 entries, 2 per page

    info = api.get_paths_info(hub_repo_id, ["dir/sub0/f0.txt", "dir/sub1", "missing"], repo_type="dataset")
    assert [(type(entry).__name__, entry.path) for entry in info] == [
        ("RepoFile", "dir/sub0/f0.txt"),
        ("RepoFolder", "dir/sub1"),
    ]

    api.create_commit(
        hub_repo_id,
        repo_type="dataset",
        operations=[CommitOperationDelete("dir/sub0/"), CommitOperationDelete("dir/sub1/f1.txt")],
        commit_message="prune",
    )
    assert sorted(api.list_repo_files(hub_repo_id, repo_type="dataset")) == [
        ".gitattributes",
        "dir/sub1/f3.txt",
    ]


def test_server_stops_without_leaving_threads_or_port() -> None:
    threads_before = set(threading.enumerate())
    server = HubServer().start()
    assert HfApi(endpoint=server.url).whoami()["name"] == server.username  # keep-alive connection left open
    server.stop()
    assert set(threading.enumerate()) - threads_before == set()
    assert not server.running
    HubServer(port=server.port).start().stop()  # the port is free again
