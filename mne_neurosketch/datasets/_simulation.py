"""The parameters every corpus simulator shares, and its public signature."""

# License: BSD (3-clause)

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass, fields

__all__ = ["Simulation", "with_simulation"]


@dataclass(frozen=True)
class Simulation:
    """The parameters every corpus simulator takes.

    Attributes
    ----------
    subjects : tuple of int
        Subjects to write.
    full_size : bool
        The real shapes (large files) rather than a small corpus.
    class_signal : float
        Amplitude, relative to the noise, of the class patterns added to the
        windows (0: pure noise).
    seed : int
        Random seed.
    """

    subjects: tuple
    full_size: bool = False
    class_signal: float = 0.0
    seed: int = 0


def with_simulation(func):
    """``func(path, sim, **own)`` as ``simulate(path, subjects=(1,), *, ...)``."""
    kw, pos = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    own = list(inspect.signature(func).parameters.values())[2:]
    shared = [
        inspect.Parameter("path", pos),
        inspect.Parameter("subjects", pos, default=(1,)),
    ]
    shared += [inspect.Parameter(f.name, kw, default=f.default)
               for f in fields(Simulation) if f.name != "subjects"]  # fmt: skip
    signature = inspect.Signature(shared + own)

    @functools.wraps(func)
    def simulate(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        sim = Simulation(**{f.name: values.pop(f.name) for f in fields(Simulation)})
        sim = dataclasses.replace(sim, subjects=tuple(sim.subjects))
        return func(values.pop("path"), sim, **values)

    simulate.__signature__ = signature
    return simulate
