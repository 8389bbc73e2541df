"""``neurosketch online``: the decoder behind the command line (parsed in
:mod:`mne_neurosketch.benchmark.cli`)."""

# License: BSD (3-clause)

from __future__ import annotations

import sys

import mne

from ._decoder import OnlineDecoder, replay

__all__ = ["parse_event_id", "run_online"]


def parse_event_id(items):
    """``["target=2", "nontarget=1"]`` -> ``{"target": 2, ...}``; bare names (string
    markers) are numbered from 1. ``None`` stays ``None``."""
    if not items:
        return None
    event_id = {}
    for i, item in enumerate(items, start=1):
        name, sep, code = item.partition("=")
        try:
            event_id[name] = int(code) if sep else i
        except ValueError:
            raise ValueError(
                f"Invalid value for the '--event-id' parameter: {item!r}; give "
                "NAME=CODE with an integer code (e.g. target=2), or marker names."
            ) from None
    return event_id


def _summary(stats):
    ms = {k: 1e3 * stats[k] for k in ("latency_p50", "latency_p99")}
    return (f"{stats['windows_decided']} decisions, {stats['samples_received']} samples "
            f"received, {stats['samples_lost']} lost, {stats['windows_late']} windows "
            f"late (dropped); latency p50 {ms['latency_p50']:.1f} ms, p99 "
            f"{ms['latency_p99']:.1f} ms; CPU {100 * stats['cpu_share']:.0f} % of "
            "one core.")


def run_online(args) -> int:
    """Run ``neurosketch online`` with parsed ``args``; return the exit status."""
    kwargs = dict(hop=args.hop, events=args.events, event_id=parse_event_id(
        args.event_id), tmin=args.tmin, filter=tuple(args.filter) if args.filter
        else None, smoothing=args.smoothing, counter=args.counter)
    if args.replay:
        if args.marker_stream:
            raise ValueError("--marker-stream reads LSL; with --replay use "
                             "'--events annotations' (the file's annotations).")
        raw = mne.io.read_raw_fif(args.replay, preload=True, verbose=False)
        decisions = replay(args.model, raw, **kwargs)
        stats = decisions.attrs["stats"]
    else:
        decoder = OnlineDecoder(args.model, args.stream,
                                marker_stream=args.marker_stream,
                                max_lag=args.max_lag, outlet=args.outlet,
                                label_outlet=args.label_outlet, **kwargs)
        print(f"Decoding {args.stream!r}: {decoder!r}", flush=True)
        try:
            decoder.run(args.duration, progress=not args.no_progress)
        except KeyboardInterrupt:
            print("\nStopped (Ctrl-C).", file=sys.stderr)
        finally:
            decoder.close()
        decisions, stats = decoder.decisions_, decoder.stats()
    if args.log:
        decisions.to_csv(args.log, index=False)
        print(f"{len(decisions)} decisions written to {args.log}")
    print(_summary(stats))
    return 0
