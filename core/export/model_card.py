"""A model card for a fine-tuned model: what it was trained on, how it scores on the test split, what
it was built from and under which licence. Markdown with Hugging Face's front matter, so the card
reads the same in a file browser, on a model hub, or beside an ONNX file."""

from __future__ import annotations

import datetime as dt

from core.backend.base_models import base_weights

SPLITS = ("train", "val", "test")


def _date(stamp) -> str:
    if not stamp:
        return "unknown"
    return dt.datetime.fromtimestamp(float(stamp), dt.timezone.utc).strftime("%Y-%m-%d")


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def model_card(run: dict, manifest: dict | None, evaluation: dict | None, kind: str | None = None) -> str:
    """The card's text. ``evaluation`` is the run's full evaluation on its test split, or None; ``kind``
    the model folder's (a generative model is tagged for text generation)."""
    base = run.get("model") or "unknown"
    source, licence = base_weights(base)
    job = run.get("job") or {}
    name = run.get("fine_tuned_model") or run.get("name") or run["id"]
    lines = ["---", f"license: {'other' if ' ' in licence else licence.lower()}",
             f"pipeline_tag: {'text-generation' if kind == 'llm' else 'text-classification'}", "tags: [startune, reviews, star-rating]", "---", "",
             f"# {name}", "",
             f"Fine-tuned by startune on {_date(job.get('finished_at') or job.get('created_at'))}: run `{run['id']}`, "
             f"job `{run.get('job_id')}` on the {run.get('backend')} backend.", "",
             "## Base model", "",
             f"- model: `{base}`", f"- pre-trained weights: {source}", f"- licence of those weights: {licence}", ""]
    hyper = (job.get("method") or {}).get("supervised", {}).get("hyperparameters") or job.get("hyperparameters") or {}
    if hyper:
        lines += ["## Training", "", "| setting | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in sorted(hyper.items())]
        lines += [f"| seed | {_cell(job.get('seed'))} |", ""]
    lines += ["## Data", ""]
    if manifest is None:
        lines += ["The build this run was trained on is not in the registry any more.", ""]
    else:
        source_info = manifest.get("input") or {}
        cleaning = manifest.get("cleaning") or {}
        lines += [f"- source: `{source_info.get('source', 'unknown')}` ({cleaning.get('rows_in', '?')} rows read, "
                  f"{cleaning.get('rows_out', '?')} kept after cleaning and de-duplication)",
                  f"- split seed: {manifest.get('seed')}; format: {manifest.get('format')}", ""]
        splits = manifest.get("splits") or {}
        labels = sorted({label for s in splits.values() for label in (s.get("labels") or {})})
        lines += ["| split | examples | " + " | ".join(_cell(x) for x in labels) + " |",
                  "|---|---|" + "---|" * len(labels)]
        for split in SPLITS:
            info = splits.get(split) or {}
            counts = info.get("labels") or {}
            lines.append(f"| {split} | {info.get('examples', 0)} | "
                         + " | ".join(str(counts.get(x, 0)) for x in labels) + " |")
        lines.append("")
    lines += ["## Test split", ""]
    if evaluation is None:
        lines += ["Not evaluated yet: `startune evaluate RUN` scores it on the test split.", ""]
    else:
        report = evaluation["report"]
        lines += [f"Scored {_date(evaluation.get('created_at'))} on {report.get('n')} examples "
                  f"(`{evaluation.get('data')}`).", "",
                  "| metric | value |", "|---|---|",
                  f"| accuracy | {_number(report.get('accuracy'))} |",
                  f"| macro-F1 | {_number(report.get('macro_f1'))} |"]
        if report.get("mae") is not None:
            lines += [f"| mean absolute error (stars) | {_number(report.get('mae'))} |",
                      f"| within one star | {_number(report.get('within_one'))} |"]
        lines += [f"| unparseable answers | {report.get('unparseable', 0)} |", ""]
        per_label = report.get("per_label") or {}
        if isinstance(per_label, dict) and per_label:
            lines += ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
            for label, row in per_label.items():
                lines.append(f"| {_cell(label)} | {_number(row.get('precision'))} | {_number(row.get('recall'))} | "
                             f"{_number(row.get('f1'))} | {row.get('support', '')} |")
            lines.append("")
    lines += ["## Use", "",
              "Reviews outside the source's domain, language or length may score far below these figures; "
              "the labels are the stars the reviewers gave, with the noise such labels carry.", ""]
    return "\n".join(lines)
