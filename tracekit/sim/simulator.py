"""A market-making loop on a virtual clock, traced by the real :class:`Tracer`.

Each tick runs ``fetch_md`` once, then ``spread`` and ``guards`` (and the symbol's
exchange requests) for every active symbol concurrently under asyncio, then
``emit``. Latencies are lognormal with occasional spikes; guards trip by reason;
ticks past the deadline are misses. Time is virtual: an asyncio event loop whose
clock jumps straight to the next timer, so a simulated hour takes seconds and a
``seed`` reproduces every row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import re
import selectors
from collections.abc import Mapping

from tracekit.errors import InputError
from tracekit.sim.result import SimulationResult
from tracekit.trace.clock import VirtualClock
from tracekit.trace.config import TraceConfig
from tracekit.trace.tracer import Tracer

SYMBOLS = (
    "BTC-USD",
    "ETH-USD",
    "SOL-USD",
    "XRP-USD",
    "ADA-USD",
    "DOGE-USD",
    "AVAX-USD",
    "DOT-USD",
    "LINK-USD",
    "MATIC-USD",
    "LTC-USD",
    "ATOM-USD",
)

SIMULATION_EPOCH_NS = 1_767_225_600_000_000_000
"""2026-01-01T00:00:00Z: the default wall-clock start of a simulated run."""

# Lognormal latency models: stage or request -> (median in ms, sigma of log).
STAGE_MODEL: Mapping[str, tuple[float, float]] = {
    "fetch_md": (22.0, 0.30),
    "spread": (14.0, 0.30),
    "guards": (5.0, 0.40),
    "emit": (6.0, 0.30),
}
REQUEST_MODEL: Mapping[tuple[str, str], tuple[float, float]] = {
    ("GET", "orderbook"): (18.0, 0.35),
    ("DELETE", "cancel_order"): (16.0, 0.35),
    ("POST", "place_order"): (22.0, 0.40),
    ("POST", "batch_cancel"): (20.0, 0.35),
    ("POST", "batch_orders"): (26.0, 0.35),
}
# Guard reason -> probability per symbol and tick.
GUARD_MODEL: Mapping[str, float] = {
    "vol_soft": 0.02,
    "position_limit": 0.008,
    "vol_hard": 0.0015,
}
LATENCY_HARD_MS = 120.0
"""A symbol whose work has taken longer than this since the tick began trips latency_hard."""


@dataclasses.dataclass(frozen=True)
class SimulationSpec:
    """What to simulate.

    Args:
        ticks: Ticks to run.
        symbols: Symbols in the universe (at most 12); each tick processes a
            random subset of at least half of them concurrently.
        seed: Seeds both the latencies and the tracer's sampling decision.
        tick_interval_ms: Time between tick starts (a tick that overruns delays the next).
        slow: Stage or API name -> latency factor, e.g. ``{"spread": 1.10}`` for +10%.
        batching: Async batching: one ``batch_cancel`` and one ``batch_orders`` request
            per tick in ``emit`` instead of a ``cancel_order`` and a ``place_order`` per
            symbol.
        spike_probability: Chance that a stage or request takes 3-8x its usual time.
        start_unix_ns: Wall-clock time of the first tick.
    """

    ticks: int = 2000
    symbols: int = 8
    seed: int = 0
    tick_interval_ms: float = 250.0
    slow: Mapping[str, float] = dataclasses.field(default_factory=dict)
    batching: bool = False
    spike_probability: float = 0.004
    start_unix_ns: int = SIMULATION_EPOCH_NS

    def __post_init__(self) -> None:
        if self.ticks < 1:
            raise InputError(f"ticks must be >= 1, got {self.ticks}")
        if not 1 <= self.symbols <= len(SYMBOLS):
            raise InputError(f"symbols must be between 1 and {len(SYMBOLS)}, got {self.symbols}")
        if self.tick_interval_ms <= 0:
            raise InputError(f"tick interval must be > 0 ms, got {self.tick_interval_ms}")
        if not 0 <= self.spike_probability <= 1:
            raise InputError(f"spike probability must be in [0, 1], got {self.spike_probability}")
        known = set(STAGE_MODEL) | {api for _, api in REQUEST_MODEL}
        for name, factor in self.slow.items():
            if name not in known:
                raise InputError(
                    f"`slow` names unknown stage or API {name!r}; known: {', '.join(sorted(known))}"
                )
            if not factor > 0:
                raise InputError(f"`slow` factor for {name} must be > 0, got {factor}")


_SLOW_PATTERN = re.compile(r"^\s*([A-Za-z_][\w]*)\s*=\s*([+-]?\d+(?:\.\d+)?)\s*(%?)\s*$")


def parse_slow(text: str) -> tuple[str, float]:
    """Parse ``spread=+10%`` (or ``spread=1.1``) into ``("spread", 1.10)``.

    Raises:
        InputError: The text is not of that form.
    """
    match = _SLOW_PATTERN.match(text)
    if match is None:
        raise InputError(
            f"`slow` {text!r} is not NAME=+N% or NAME=FACTOR (for example spread=+10%)"
        )
    name, number, percent = match.groups()
    if not percent and number[0] in "+-":
        raise InputError(
            f"`slow` {text!r} is ambiguous: write {name}={number}% for a change in percent, "
            f"or a factor without a sign ({name}=1.1 is +10%)"
        )
    factor = 1 + float(number) / 100 if percent else float(number)
    if factor <= 0:
        raise InputError(f"`slow` {text!r} makes latencies zero or negative")
    return name, factor


class _VirtualSelector(selectors.DefaultSelector):
    """Never waits: where the loop would sleep, the virtual clock jumps instead."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("simulation deadlock: no timer pending and nothing to do")
        if timeout > 0:
            self._clock.advance(math.ceil(timeout * 1e9))
        return super().select(0)


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(_VirtualSelector(clock))
        self._virtual_clock = clock

    def time(self) -> float:
        return self._virtual_clock() / 1e9


class _Market:
    """Draws latencies, guard trips and symbol subsets from one seeded generator."""

    def __init__(self, spec: SimulationSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)

    def latency_s(self, key: str, median_ms: float, sigma: float) -> float:
        ms = self.rng.lognormvariate(math.log(median_ms), sigma)
        if self.rng.random() < self.spec.spike_probability:
            ms *= self.rng.uniform(3.0, 8.0)
        return ms * self.spec.slow.get(key, 1.0) / 1000.0

    def stage_s(self, stage: str) -> float:
        median_ms, sigma = STAGE_MODEL[stage]
        return self.latency_s(stage, median_ms, sigma)

    def request_s(self, verb: str, api: str) -> float:
        median_ms, sigma = REQUEST_MODEL[(verb, api)]
        return self.latency_s(api, median_ms, sigma)

    def active_symbols(self) -> list[str]:
        universe = list(SYMBOLS[: self.spec.symbols])
        count = self.rng.randint(max(1, (len(universe) + 1) // 2), len(universe))
        return sorted(self.rng.sample(universe, count), key=universe.index)


async def _one_tick(tracer: Tracer, market: _Market, clock: VirtualClock) -> None:
    spec = market.spec
    with tracer.tick():
        tick_start_ns = clock()
        with tracer.stage("fetch_md"):
            with tracer.request("GET", "orderbook"):
                await asyncio.sleep(market.request_s("GET", "orderbook"))
            await asyncio.sleep(market.stage_s("fetch_md") * 0.25)
        symbols = market.active_symbols()

        async def one(symbol: str) -> None:
            with tracer.stage("spread", symbol=symbol):
                await asyncio.sleep(market.stage_s("spread"))
            hard = False
            with tracer.stage("guards", symbol=symbol):
                await asyncio.sleep(market.stage_s("guards"))
                for reason, probability in GUARD_MODEL.items():
                    if market.rng.random() < probability:
                        tracer.guard_trip(reason, symbol=symbol)
                        hard = hard or reason.endswith("_hard")
                if (clock() - tick_start_ns) / 1e6 > LATENCY_HARD_MS:
                    tracer.guard_trip("latency_hard", symbol=symbol)
                    hard = True
            if not spec.batching and market.rng.random() < 0.6:
                with tracer.request("DELETE", "cancel_order", symbol=symbol):
                    await asyncio.sleep(market.request_s("DELETE", "cancel_order"))
            if not hard and not spec.batching:
                with tracer.request("POST", "place_order", symbol=symbol):
                    await asyncio.sleep(market.request_s("POST", "place_order"))

        await asyncio.gather(*(one(symbol) for symbol in symbols))
        tracer.set_parallel_symbols(len(symbols))
        with tracer.stage("emit"):
            if spec.batching:
                with tracer.request("POST", "batch_cancel"):
                    await asyncio.sleep(market.request_s("POST", "batch_cancel"))
                with tracer.request("POST", "batch_orders"):
                    await asyncio.sleep(market.request_s("POST", "batch_orders"))
            await asyncio.sleep(market.stage_s("emit"))


async def _run_loop(tracer: Tracer, market: _Market, clock: VirtualClock) -> None:
    interval_ns = round(market.spec.tick_interval_ms * 1e6)
    next_start_ns = clock()
    for _ in range(market.spec.ticks):
        await _one_tick(tracer, market, clock)
        next_start_ns += interval_ns
        wait_ns = next_start_ns - clock()
        if wait_ns > 0:
            await asyncio.sleep(wait_ns / 1e9)
        else:
            next_start_ns = clock()


def simulate(
    spec: SimulationSpec,
    config: TraceConfig,
    *,
    run_id: str | None = None,
) -> SimulationResult:
    """Run the simulated loop through a real tracer and close it.

    Args:
        spec: The market and the loop to simulate.
        config: The tracer's settings (its ``sample_seed``, when None, becomes ``spec.seed``).
        run_id: The run's name; ``sim-<seed>`` when omitted and the config names none.
    """
    if config.sample_seed is None:
        config = dataclasses.replace(config, sample_seed=spec.seed)
    clock = VirtualClock()
    tracer = Tracer(
        config,
        clock=clock,
        wall_anchor_ns=spec.start_unix_ns,
        run_id=run_id or config.run_id or f"sim-{spec.seed}",
        run_metadata={"tracekit.host": "simulator", "tracekit.pid": "0"},
    )
    loop = _VirtualTimeLoop(clock)
    try:
        loop.run_until_complete(_run_loop(tracer, _Market(spec), clock))
    finally:
        loop.close()
        tracer.close()
    return SimulationResult(tracer.run_id, tracer.output_folder, tracer.stats(), clock())
