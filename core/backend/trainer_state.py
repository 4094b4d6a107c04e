"""What a checkpoint of a torch trainer (encoder or LoRA) carries beside its weights so a resumed job goes
on where it stopped: AdamW's moments and the early-stopping record (best score, patience left, the best
weights), as safetensors and JSON, never pickle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRAINER_STATE = "trainer_state"   # the folder inside a checkpoint


@dataclass
class TrainerState:
    optimizer: dict
    record: dict
    best: dict | None


def write_trainer_state(folder: Path, optimizer_state: dict, record: dict, best: dict | None) -> None:
    """AdamW's moments and the early-stopping record beside a checkpoint, as safetensors + JSON (no pickle)."""
    import orjson
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors, scalars = {}, {}
    for index, values in optimizer_state["state"].items():
        for key, value in values.items():
            if hasattr(value, "detach"):
                tensors[f"{index}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    save_file(tensors, str(folder / "optimizer.safetensors"))
    if best is not None:
        save_file({k: v.contiguous() for k, v in best.items()}, str(folder / "best.safetensors"))
    (folder / "state.json").write_bytes(orjson.dumps({
        "param_groups": optimizer_state["param_groups"], "scalars": scalars, "record": record,
        "has_best": best is not None}))


def read_trainer_state(folder: Path, device) -> TrainerState | None:
    import orjson
    from safetensors.torch import load_file

    if not (folder / "state.json").is_file():
        return None
    meta = orjson.loads((folder / "state.json").read_bytes())
    state: dict = {}
    for name, tensor in load_file(str(folder / "optimizer.safetensors"), device=str(device)).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    best = load_file(str(folder / "best.safetensors")) if meta.get("has_best") else None
    return TrainerState({"state": state, "param_groups": meta["param_groups"]}, meta["record"], best)
