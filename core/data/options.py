"""Preparation options from text, as a user types them (command line flags, TUI fields)."""

from __future__ import annotations

from typing import cast, overload

from core.data.labels import LabelSet
from core.data.pipeline import PrepareOptions
from core.data.split import SPLITS
from core.choices import DEFAULT_SEED
from core.errors import ValueRefused
from core.seed import parse_seed


@overload
def _unescape(text: str, flag: str) -> str: ...
@overload
def _unescape(text: None, flag: str) -> None: ...
def _unescape(text: str | None, flag: str) -> str | None:
    """Backslash escapes as typed on a command line ('\\n\\n###\\n\\n'); a broken one is one line."""
    if text is None:
        return None
    try:
        return text.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
    except UnicodeError as exc:
        raise ValueRefused(flag, text, f"invalid backslash escape ({getattr(exc, 'reason', exc)})",
                           hint="use \\n, \\t, \\xNN or \\\\ for a backslash") from None


def _seed(text: str | int | None) -> int:
    seed = parse_seed(text, "--seed")  # the one rule for a seed (core/seed.py)
    return DEFAULT_SEED if seed is None else seed


def options_from_strings(**kw) -> PrepareOptions:
    """PrepareOptions from option values typed as text (command line flags, TUI fields)."""
    try:
        # three of them, as PrepareOptions.check() says when they are not
        fractions = cast(tuple[float, float, float], tuple(float(x) for x in kw["fractions"].split(",")))
    except ValueError:
        raise ValueRefused("--split", kw["fractions"], "give three numbers like 0.6,0.2,0.2") from None
    samples = None
    spec = kw.get("samples_spec")
    if spec:
        try:
            if "=" in spec:
                samples = {k.strip(): int(v) for k, v in (part.split("=") for part in spec.split(","))}
            else:
                samples = dict.fromkeys(SPLITS, int(spec))
        except ValueError:
            raise ValueRefused("--samples", spec, "give N or train=N,val=N,test=N") from None
    balance = kw.get("balance")
    if balance is not None and balance != "equal":
        try:
            balance = int(balance)
        except ValueError:
            raise ValueRefused("--balance", balance, "give 'equal' or a number") from None
    options = PrepareOptions(
        text_column=kw.get("text_column"), label_column=kw.get("label_column"),
        labels=LabelSet.parse(kw.get("labels_spec")), dedup=kw["dedup"], conflict_policy=kw["conflicts"],
        fractions=fractions, seed=_seed(kw.get("seed")), stratify=kw["stratify"], split_column=kw.get("split_column"),
        samples=samples, balance=balance, order=kw["order"], format=kw["fmt"],
        system_prompt=kw.get("system_prompt"), separator=_unescape(kw["separator"], "--separator"),
        stop=_unescape(kw.get("stop"), "--stop"),
    )
    options.check()
    return options
