#!/usr/bin/env python3
"""How much of a latency's tail is the machine's own (issue 12, wake-latency p99).

A wake-up's p99 on a small VM is set less by the code on its path than by the times the
vCPU is not running that code: the hypervisor takes it for tens of microseconds, an idle
vCPU must be brought back from a halt. This measures that floor with no buffer, no Erlang
and no wake-up at all, so the wake-latency rows of ``benches/erlang/seed_compare.escript``
can be read against it:

- **stalls**: one thread reads the clock in a tight loop for a few seconds; every gap
  between two reads of 2 µs or more is time the thread did not run (counted by size, per
  second, and as a share of the time);
- **floor**: a fixed piece of work of N µs (reading the clock until N µs passed), started
  after a 2 ms sleep as each wake-up of the harness is, 1000 times: its median and p99. A
  wake-up whose path takes N µs cannot have a lower p99 than this row's on the same machine.

  python3 benches/host_noise.py [--seconds S] [--samples N]

Stdlib only; prints two markdown tables. Pure Python resolves gaps of ~0.1 µs, far below the
sizes that matter here.
"""

import argparse
import statistics
import time

# Upper edges of the stall classes (ns); the last class is everything above.
EDGES_NS = [5_000, 10_000, 20_000, 40_000, 80_000, 160_000]
# Gaps shorter than this are the loop itself (ns).
STALL_NS = 2_000
# The pieces of work of the floor table (µs), around the wake-up paths measured.
WORK_US = [5, 10, 20, 30]
# The harness's gap between two stamps (s).
GAP_S = 0.002


def stalls(seconds):
    """Counts of clock gaps per class over `seconds`; the total time in them (ns)."""
    now = time.perf_counter_ns
    counts = [0] * (len(EDGES_NS) + 1)
    stolen = 0
    end = now() + int(seconds * 1e9)
    prev = now()
    while prev < end:
        t = now()
        gap = t - prev
        prev = t
        if gap >= STALL_NS:
            stolen += gap
            k = 0
            while k < len(EDGES_NS) and gap >= EDGES_NS[k]:
                k += 1
            counts[k] += 1
    return counts, stolen


def floor(work_us, samples):
    """Median and p99 (µs) of `work_us` of work started `GAP_S` after a sleep."""
    now = time.perf_counter_ns
    took = []
    for _ in range(samples):
        time.sleep(GAP_S)
        start = now()
        end = start + work_us * 1000
        while now() < end:
            pass
        took.append((now() - start) / 1000)
    took.sort()
    return statistics.median(took), took[min(len(took) - 1, int(len(took) * 0.99))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the stall count")
    parser.add_argument("--samples", type=int, default=1000, help="pieces of work per floor row")
    args = parser.parse_args()

    counts, stolen = stalls(args.seconds)
    bounds = [STALL_NS] + EDGES_NS
    names = [f"{lo // 1000}–{hi // 1000} µs" for lo, hi in zip(bounds, bounds[1:])]
    names.append(f"≥ {EDGES_NS[-1] // 1000} µs")
    print(f"Stalls of a thread reading the clock for {args.seconds:g} s "
          f"({100 * stolen / (args.seconds * 1e9):.2f}% of the time not running):\n")
    print("| stall | count | per second |\n|---|---|---|")
    for name, count in zip(names, counts):
        print(f"| {name} | {count} | {count / args.seconds:.0f} |")

    print(f"\nA fixed piece of work started {GAP_S * 1000:g} ms after a sleep, "
          f"{args.samples} times:\n")
    print("| work | median | p99 |\n|---|---|---|")
    for us in WORK_US:
        median, p99 = floor(us, args.samples)
        print(f"| {us} µs | {median:.1f} µs | {p99:.1f} µs |")


if __name__ == "__main__":
    main()
