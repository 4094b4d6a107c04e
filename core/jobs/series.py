"""Metrics events as series ready for charts: step -> losses and token accuracies."""

from __future__ import annotations

from dataclasses import dataclass, field

ETA_MIN_SPAN = 10.0  # seconds of history the pace is measured over (event times are whole seconds)
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

    def in_epochs(self, steps: list[int], n_epochs) -> list[float] | None:
        """``steps`` as epochs (a step is n_epochs / total_steps of one), where the job's events give its
        total steps and its job its epochs as a number; else None. Runs of other sizes then share one axis."""
        if not isinstance(n_epochs, int) or isinstance(n_epochs, bool) or n_epochs < 1 or not self.total_steps:
            return None
        per_epoch = self.total_steps / n_epochs
        return [step / per_epoch for step in steps]

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
        """Time until the last step at the recent pace, less the time since the last step; None until the
        pace is known. Event times are whole seconds and arrive in bursts (many steps share one second), so
        the pace is measured over the recent steps spanning at least ETA_MIN_SPAN seconds (else over all
        steps), never over a burst: that read as "about 0m00s left" half-way through a job."""
        if self.total_steps is None or len(self.times) < 2:
            return None
        steps = sorted(self.times)
        last = steps[-1]
        # the first step stamped with a second is the one nearest that second's start: pace between two such
        first_in: dict[float, int] = {}
        for step in steps:
            first_in.setdefault(self.times[step], step)
        end = first_in[self.times[last]]
        start = first_in[self.times[steps[0]]]
        for second in sorted(first_in, reverse=True):  # the nearest second far enough back
            if self.times[last] - second >= ETA_MIN_SPAN:
                start = first_in[second]
                break
        span = self.times[end] - self.times[start]
        if span <= 0 or end == start:
            return None
        remaining = self.total_steps - last
        if remaining <= 0:
            return 0.0
        left = remaining * span / (end - start) - (now - self.times[last])
        return left if left > 0 else None  # overdue: the next events will tell; never "0s" with steps to go
