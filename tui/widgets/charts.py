"""Plotext charts that grow as points arrive and redraw at most a few times a second."""

from __future__ import annotations

from textual_plotext import PlotextPlot

REDRAW_EVERY = 0.25  # seconds: redrawing a chart per event floods a terminal over SSH


def whole_ticks(low: float, high: float, count: int = 5) -> list[int]:
    """About ``count`` whole-number ticks from low to high: steps and counts are integers, and
    plotext's default "15.8" on a step axis reads as nonsense."""
    low, high = int(low), int(round(high))
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** max(0, len(str(int(raw))) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = (low // step) * step
    ticks = [t for t in range(first, high + 1, step) if t >= low]
    if low not in ticks:
        ticks.insert(0, low)
    return ticks


class SeriesChart(PlotextPlot):
    """Named line series; ``append`` adds points, a timer redraws when something changed."""

    def __init__(self, title: str, *, ylabel: str = "", id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.ylabel = ylabel
        self.lines: dict[str, tuple[list[float], list[float]]] = {}
        self._dirty = True

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(REDRAW_EVERY, self._flush)

    def append(self, name: str, x: float, y: float) -> None:
        xs, ys = self.lines.setdefault(name, ([], []))
        if xs and x <= xs[-1]:  # a replayed step replaces its point instead of doubling back
            while xs and x <= xs[-1]:
                xs.pop()
                ys.pop()
        xs.append(x)
        ys.append(y)
        self._dirty = True

    def set_series(self, name: str, xs: list[float], ys: list[float]) -> None:
        self.lines[name] = (list(xs), list(ys))
        self._dirty = True

    def clear(self) -> None:
        self.lines.clear()
        self._dirty = True

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self.refresh()

    def render(self):
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        if self.ylabel:
            plt.ylabel(self.ylabel)
        drawn = [xs for xs, _ in self.lines.values() if xs]
        for name, (xs, ys) in self.lines.items():
            if xs:
                # quadrant blocks: drawn by more terminal fonts than braille
                plt.plot(xs, ys, label=name, marker="hd")
        if drawn:
            plt.xticks(whole_ticks(min(x[0] for x in drawn), max(x[-1] for x in drawn)))
        else:
            plt.title(f"{self.title} (no data yet)")
        return super().render()


class BarChart(PlotextPlot):
    """Counts per label, optionally one group of bars per split."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.groups: dict[str, dict[str, int]] = {}

    def show(self, groups: dict[str, dict[str, int]]) -> None:
        self.groups = groups
        self.refresh()

    def render(self):
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        if self.groups:
            labels = list(next(iter(self.groups.values())))
            top = max((n for g in self.groups.values() for n in g.values()), default=0)
            ticks = whole_ticks(0, top, 4)
            plt.yticks(ticks, [f"{t:,}" for t in ticks])
            if len(self.groups) == 1:
                plt.bar(labels, list(next(iter(self.groups.values())).values()), marker="sd")
            else:
                plt.multiple_bar(labels, [list(g.values()) for g in self.groups.values()], labels=list(self.groups))
        return super().render()
