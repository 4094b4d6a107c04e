"""Plotext charts that grow as points arrive and redraw at most a few times a second."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.containers import Horizontal
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


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Evenly spaced ticks on a round step (1, 2 or 5 times a power of ten) covering low..high:
    the same distance between every two labels, and labels that read as numbers people write."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high - low < 1e-12:
        low, high = low - 0.5 * (abs(low) or 1), high + 0.5 * (abs(high) or 1)
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    n = int(round((last - first) / step))
    return [round(first + i * step, 12) for i in range(n + 1)]


def even_axis(low: float, high: float, rows: int) -> tuple[float, float, list[float]]:
    """(axis min, axis max, ticks) for a plot ``rows`` rows tall: round ticks a whole number of
    rows apart, so the distance on screen between every two ticks is the same."""
    rows = max(2, rows)
    best = None
    for count in (5, 4, 3):
        ticks = nice_ticks(low, high, count)
        intervals = max(1, len(ticks) - 1)
        if intervals > rows - 1:
            continue
        per_tick = (rows - 1) // intervals
        unused = rows - 1 - per_tick * intervals  # rows above the top tick
        if best is None or unused < best[0]:
            best = (unused, ticks, per_tick)
    if best is None:  # a very short plot: its two ends
        ticks, per_tick = [nice_ticks(low, high, 2)[0], nice_ticks(low, high, 2)[-1]], rows - 1
    else:
        _, ticks, per_tick = best
    intervals = max(1, len(ticks) - 1)
    per_row = (ticks[-1] - ticks[0]) / intervals / per_tick
    return ticks[0], ticks[0] + (rows - 1) * per_row, ticks


def tick_labels(ticks: list[float]) -> list[str]:
    """The same number of decimals on every label, as few as the step needs."""
    if len(ticks) < 2:
        return [f"{t:g}" for t in ticks]
    step = abs(ticks[1] - ticks[0])
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return [f"{t:.{decimals}f}" for t in ticks]


# series colours, also used by the legend in the border title (plotext's own legend covers data)
PALETTE = [(66, 165, 245), (255, 167, 38), (102, 187, 106), (236, 64, 122), (171, 71, 188), (38, 198, 218)]



def shortened(name: str, limit: int | None) -> str:
    return name if limit is None or len(name) <= limit else name[:limit - 1] + "…"


NAME_LIMITS = (None, 20, 12, 8, 4)   # a series' name in the legend, tried longest first


def legend_title(chart, names: list[tuple[int, str]], swatch: str) -> tuple[str, bool]:
    """The border title: the chart's title and a coloured key per series, names shortened until both fit
    (a title pushed into the plot took a row from it and wrapped at 60 columns); the keys alone when they
    do not (``inside`` is True: the title then goes inside the plot)."""
    from rich.markup import escape
    from rich.text import Text

    room = chart.size.width - 4
    def keys(limit: int | None) -> str:
        return "  ".join(f"[rgb{PALETTE[i % len(PALETTE)]}]{swatch}[/] {escape(shortened(name, limit))}"
                         for i, name in names)

    def fits(markup: str) -> bool:
        return not chart.size.width or Text.from_markup(markup).cell_len <= room

    for limit in NAME_LIMITS:
        title = f"{escape(chart.title)}  {keys(limit)}"
        if fits(title):
            return title, False
    if len(names) == 1:   # one series: its name is said above the chart, the title is worth more
        return escape(chart.title), False
    for limit in NAME_LIMITS:
        if fits(keys(limit)):
            return keys(limit), True
    return keys(NAME_LIMITS[-1]), True



class LegendPlot(PlotextPlot):
    """A plot whose legend is its border title: a key per series in the series' colour, beside the title
    while both fit (plotext's own legend covers data)."""

    SWATCH = "━━"  # how a key shows its colour

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.border_title = title

    def _keys(self) -> tuple[list[tuple[int, str]], str]:
        """The (colour index, name) of each series to key, and the border title when there are none."""
        raise NotImplementedError

    def _legend(self) -> bool:
        """Set the border title; True when the title does not fit beside the keys and goes above the plot."""

        keyed, alone = self._keys()
        title, inside = alone, False
        if keyed:
            title, inside = legend_title(self, keyed, self.SWATCH)
        if self.border_title != title:
            self.border_title = title
        return inside

    def _start(self) -> bool:
        """A blank figure with the legend set and the title above the plot where it must be (returned)."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        inside = self._legend()
        if inside:
            plt.title(self.title)
        return inside


class SeriesChart(LegendPlot):
    """Named line series; ``append`` adds points, a timer redraws when something changed. The
    legend is the border title, coloured like the lines, so it never hides a point."""

    DEFAULT_CSS = """
    SeriesChart { border-top: solid $primary-muted; border-title-align: left; border-title-color: $text; }
    """

    def __init__(self, title: str, *, ylabel: str = "", id: str | None = None, classes: str | None = None) -> None:
        super().__init__(title, id=id, classes=classes)
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

    def _keys(self) -> tuple[list[tuple[int, str]], str]:
        from rich.markup import escape

        # a series keeps its colour (its place in lines) while another has no points yet
        keyed = [(i, name) for i, (name, (xs, _)) in enumerate(self.lines.items()) if xs]
        return keyed, f"{escape(self.title)} (no data yet)"

    def render(self):
        plt = self.plt
        self._title_inside = self._start()
        if self.ylabel:
            plt.ylabel(self.ylabel)
        drawn = [(xs, ys) for xs, ys in self.lines.values() if xs]
        for i, (xs, ys) in enumerate(self.lines.values()):
            if xs:
                # quadrant blocks: drawn by more terminal fonts than braille
                plt.plot(xs, ys, marker="hd", color=PALETTE[i % len(PALETTE)])
        if drawn:
            plt.xticks(whole_ticks(min(x[0] for x, _ in drawn), max(x[-1] for x, _ in drawn)))
            ys = [y for _, values in drawn for y in values]
            # the canvas: less the frame's top, the x axis and its labels, and a title row
            rows = self.size.height - 3 - (1 if self._title_inside else 0)
            low, high, ticks = even_axis(min(ys), max(ys), rows)
            plt.ylim(low, high)
            plt.yticks(ticks, tick_labels(ticks))
        return super().render()


class BarChart(LegendPlot):
    """Counts per label, optionally one group of bars per split (legend in the border title)."""

    DEFAULT_CSS = """
    BarChart { border-top: solid $primary-muted; border-title-align: center; border-title-color: $text; }
    """

    SWATCH = "██"

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(title, id=id, classes=classes)
        self.groups: dict[str, dict[str, int]] = {}

    def show(self, groups: dict[str, dict[str, int]]) -> None:
        self.groups = groups
        self.refresh()

    def _keys(self) -> tuple[list[tuple[int, str]], str]:
        from rich.markup import escape

        # one group needs no key: its bars are the only ones
        return (list(enumerate(self.groups)) if len(self.groups) > 1 else []), escape(self.title)

    def render(self):
        plt = self.plt
        self._start()
        if self.groups:
            labels = list(next(iter(self.groups.values())))
            top = max((n for g in self.groups.values() for n in g.values()), default=0)
            ticks = whole_ticks(0, top, 4)
            plt.yticks(ticks, [f"{t:,}" for t in ticks])
            if len(self.groups) == 1:
                plt.bar(labels, list(next(iter(self.groups.values())).values()), marker="sd", color=PALETTE[0])
            else:
                plt.multiple_bar(labels, [list(g.values()) for g in self.groups.values()], marker="sd",
                                 color=[PALETTE[i % len(PALETTE)] for i in range(len(self.groups))])
        return super().render()


class ChartPair(Horizontal):
    """Two series charts side by side, half the width each: the plots of Monitor, Results and Compare.
    ``charts``: (title, id) of the left one and of the right one."""

    def __init__(self, *charts: tuple[str, str], id: str) -> None:
        super().__init__(id=id)
        self.charts = charts

    def compose(self) -> ComposeResult:
        for title, chart_id in self.charts:
            yield SeriesChart(title, id=chart_id)
