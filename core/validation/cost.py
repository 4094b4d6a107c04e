"""OpenAI's default-epochs heuristic and the training cost estimate."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from core.validation.models import PRICES_AS_OF, model_info

# From OpenAI's data-preparation guide: aim for about 3 epochs, more for tiny sets, fewer for big ones,
# so that the total number of examples seen stays between 100 and 25,000.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def default_epochs(n_examples: int) -> int:
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


@dataclass(frozen=True)
class CostEstimate:
    model: str
    billed_tokens_per_epoch: int
    n_epochs: int
    usd_per_1m: float
    usd: float | None           # None when the model's price is unknown
    prices_as_of: str = PRICES_AS_OF

    @property
    def billed_tokens(self) -> int:
        return self.billed_tokens_per_epoch * self.n_epochs

    def describe(self) -> str:
        price = "price unknown" if self.usd is None else f"${self.usd:,.2f}"
        return (f"{price} for {self.model}: {self.billed_tokens:,} billed tokens "
                f"({self.billed_tokens_per_epoch:,} x {self.n_epochs} epochs), prices of {self.prices_as_of}")

    def to_dict(self) -> dict:
        return asdict(self) | {"billed_tokens": self.billed_tokens}


def estimate_cost(billed_tokens_per_epoch: int, n_epochs: int, model: str) -> CostEstimate:
    info = model_info(model)
    price = info.training_usd_per_1m
    usd = None if math.isnan(price) else round(billed_tokens_per_epoch * n_epochs * price / 1_000_000, 4)
    return CostEstimate(info.name, billed_tokens_per_epoch, n_epochs, price, usd)
