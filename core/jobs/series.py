"""Metrics events as series ready for charts: step -> losses and token accuracies."""

from __future__ import annotations

from dataclasses import dataclass, field

ETA_WINDOW = 20  # recent steps the remaining time is measured on: the pace after a pause or resume
FIELDS = ("train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy")


@dataclass
class MetricSeries:
    points: dict[int, dict[str, float]] = field(default_factory=dict)
    total_steps: int | None = None
    full_valid: dict[str, float] = field(default_factory=dict)
    times: dict[int, float] = field(default_factory=dict)  # step -> when its event was created

    def add(self, event: dict) -> bool:
        """Take a metrics event; True when it added or changed a point."""
        if event.get("type") != "metrics":
            return False
        data = event.get("data") or {}
        step = data.get("step")
        if step is None:
            return False
        self.total_steps = data.get("total_steps", self.total_steps)
        if "full_valid_loss" in data:
            self.full_valid = {k: data[k] for k in ("full_valid_loss", "full_valid_mean_token_accuracy") if k in data}
        point = {k: float(data[k]) for k in FIELDS if data.get(k) is not None}
        self.points[int(step)] = self.points.get(int(step), {}) | point
        if event.get("created_at") is not None:
            self.times[int(step)] = float(event["created_at"])
        return True

    @classmethod
    def from_events(cls, events) -> MetricSeries:
        series = cls()
        for event in events:
            series.add(event)
        return series

    def series(self, name: str) -> tuple[list[int], list[float]]:
        steps = [s for s in sorted(self.points) if name in self.points[s]]
        return steps, [self.points[s][name] for s in steps]

    @property
    def last_step(self) -> int:
        return max(self.points, default=0)

    def last(self, name: str) -> float | None:
        steps, values = self.series(name)
        return values[-1] if values else None

    def best(self, name: str) -> float | None:
        _, values = self.series(name)
        if not values:
            return None
        return max(values) if "accuracy" in name else min(values)

    def seconds_left(self, now: float) -> float | None:
        """Time until the last step at the pace of the latest steps, less the time since the last
        one; None until two steps have arrived."""
        steps = sorted(self.times)[-ETA_WINDOW:]
        if self.total_steps is None or len(steps) < 2:
            return None
        per_step = (self.times[steps[-1]] - self.times[steps[0]]) / (steps[-1] - steps[0])
        left = (self.total_steps - steps[-1]) * per_step - (now - self.times[steps[-1]])
        return max(0.0, left)
