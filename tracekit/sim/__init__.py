"""The simulator: a market-making loop on a virtual clock, traced by the real tracer.

>>> from tracekit import TraceConfig
>>> from tracekit.sim import SimulationSpec, simulate
>>> simulate(SimulationSpec(ticks=500, seed=1), TraceConfig(output_dir="traces"))
"""

from tracekit.sim.result import SimulationResult
from tracekit.sim.simulator import SimulationSpec, parse_slow, simulate

__all__ = ["SimulationResult", "SimulationSpec", "parse_slow", "simulate"]
