"""`startune export RUN --out DIR`: everything a run leaves behind, in open formats. The evidence
(core.jobs.export), a model card, and with ``onnx`` the model as ONNX under onnx/."""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError

CARD = "MODEL_CARD.md"


def export_bundle(registry, ref: str, out_dir: Path, *, onnx: bool = False) -> dict:
    try:
        return _export(registry, ref, Path(out_dir), onnx)
    except OSError as exc:   # a folder that cannot be made or written: one line naming it
        from core.errors import storage_error

        raise storage_error(exc, exc.filename or out_dir) or ConfigError(
            f"cannot write {exc.filename or out_dir}: {exc.strerror or exc}",
            hint="choose a folder you can create and write") from None


def _export(registry, ref: str, out_dir: Path, onnx: bool) -> dict:
    from core.atomic import write_text
    from core.export.model_card import model_card
    from core.jobs.export import export_run

    if onnx:
        from core.export.onnx_export import missing

        problem = missing()   # before anything is written
        if problem:
            raise ConfigError(problem)
    written = export_run(registry, ref, out_dir)
    run = registry.find_run(ref)
    build_id = (run.get("config") or {}).get("build_id")
    build = registry.build(build_id) if build_id else None
    full = [e for e in registry.evaluations(run_id=run["id"]) if not e["partial"]]
    out = Path(out_dir)
    kind = None
    if (out / "model" / "model.json").is_file():
        from core.backend.model_files import read_manifest

        kind = read_manifest(out / "model").get("kind")
    write_text(out / CARD, model_card(run, build["manifest"] if build else None, full[0] if full else None, kind),
               private=False)   # the user's own folder: the umask's mode, as the rest of the export
    written["files"].append(CARD)
    if onnx:
        model = out / "model"
        if not (model / "model.json").is_file():
            written.setdefault("missing", []).append("onnx/ (no model folder to convert: see model/ above)")
        else:
            from core.export.onnx_export import export_onnx

            try:
                names = export_onnx(model, out / "onnx")
            except ConfigError as exc:
                written.setdefault("missing", []).append(f"onnx/ ({exc})")
            else:
                written["files"].extend(f"onnx/{name}" for name in names)
    return written
