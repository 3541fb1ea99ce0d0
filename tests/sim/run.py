"""``make sim``: run simulated clusters over many seeds; a failure prints its seed, a shrunk fault
schedule and the trace of the run, and the same seed replays it exactly.

    python -m tests.sim.run --seeds 500            seeds 1..500 (or --first S)
    python -m tests.sim.run --budget-s 60          as many seeds as fit in 60 s of wall time
    python -m tests.sim.run --seed 1234 -v         replay one seed, printing its trace
    python -m tests.sim.run --empty-disks ...      also restart nodes with empty disks (a lost disk; the
                                                   node rejoins every group as a learner)
    python -m tests.sim.run --nodes 4 --replicas 3 --moves-per-s 0.5
                                                   move partition groups between nodes meanwhile
    python -m tests.sim.run --nodes 5 --metadata-voters 3
                                                   the metadata leader keeps 3 voters among 5 nodes
                                                   (replaces one unreachable, promotes learners)
    python -m tests.sim.run --nodes 5 --metadata-voters 3 --decommissions 2
                                                   ... and 2 nodes decommissioned meanwhile (each
                                                   leaves the group caught up, then stops for good)
    python -m tests.sim.run --moves-per-s 0.5 --throttle-bytes-per-s 2000 ...
                                                   with every node's learner throttle on (bytes/s)
    python -m tests.sim.run --scenario empty-disk  a scripted schedule (tests/sim/scenarios.py)
    python -m tests.sim.run --mutant truncate-matching --seeds 50
                                                   break a rule on purpose: the run must fail

pysyncobj iterates sets of node names, whose order depends on Python's string hashing, so runs
replay exactly only with a fixed PYTHONHASHSEED: this command re-executes itself with
PYTHONHASHSEED=0 when it is not set.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

from tests.sim.cluster import Result, SimCluster, SimConfig
from tests.sim.faults import Fault
from tests.sim.scenarios import MUTANTS, SCENARIOS, mutant

TRACE_TAIL = 40
ROUND_PER_JOB = 8  # seeds handed to each process between checks of the time budget


def run_seed(seed: int, config: SimConfig, schedule: list[Fault] | None = None) -> Result:
    return SimCluster(seed, config, schedule).run()


def shrink(seed: int, config: SimConfig, schedule: list[Fault], violation: str) -> list[Fault]:
    """Drop faults one at a time while the run still fails (any violation): a minimal schedule."""
    current = list(schedule)
    changed = True
    while changed:
        changed = False
        for i in range(len(current)):
            trial = current[:i] + current[i + 1:]
            if run_seed(seed, config, trial).violation is not None:
                current = trial
                changed = True
                break
    return current


def report(result: Result, config: SimConfig, do_shrink: bool) -> None:
    print(f"\nFAILED seed {result.seed}: {result.violation}")
    print(f"replay: python -m tests.sim.run --seed {result.seed} -v"
          + (" --empty-disks" if config.empty_disks else "")
          + f" --nodes {config.nodes} --partitions {config.partitions} --produce-per-s {config.produce_per_s:g}"
          + f" --trim-per-s {config.trim_per_s:g} --idempotent-per-s {config.idempotent_per_s:g}"
          + f" --compact-per-s {config.compact_per_s:g} --topics-per-s {config.topics_per_s:g}"
          + (f" --replicas {config.replicas} --moves-per-s {config.moves_per_s:g}" if config.moves_per_s else "")
          + (f" --catalogue-per-s {config.catalogue_per_s:g}" if config.catalogue_per_s else "")
          + (f" --throttle-bytes-per-s {config.throttle_bytes_per_s}" if config.throttle_bytes_per_s else "")
          + ("" if config.cluster_id else " --no-cluster-id")
          + (f" --metadata-voters {config.metadata_voters}" if config.metadata_voters else "")
          + (f" --decommissions {config.decommissions}" if config.decommissions else "")
          + (f" --duration-s {config.duration_s:g}" if config.duration_s != SimConfig.duration_s else "")
          + (" --crashes-inside-iterations" if config.crashes_inside_iterations else ""))
    schedule = result.schedule
    if do_shrink:
        schedule = shrink(result.seed, config, result.schedule, result.violation or "")
        print(f"minimal fault schedule ({len(schedule)} of {len(result.schedule)} faults):")
        result = run_seed(result.seed, config, schedule)
    else:
        print("fault schedule:")
    for fault in schedule:
        print(f"  {fault}")
    print(f"trace (last {TRACE_TAIL} events):")
    for line in result.trace[-TRACE_TAIL:]:
        print(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.sim.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=0, help="how many seeds to run")
    p.add_argument("--first", type=int, default=1, help="the first seed")
    p.add_argument("--seed", type=int, default=None, help="replay this one seed")
    p.add_argument("--seed-list", default="", help="comma-separated seeds (regressions)")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), help="run a scripted fault schedule")
    p.add_argument("--mutant", choices=sorted(MUTANTS), help="break a Raft rule on purpose")
    p.add_argument("--budget-s", type=float, default=0.0, help="run seeds until this much wall time passed")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--duration-s", type=float, default=SimConfig.duration_s)
    p.add_argument("--produce-per-s", type=float, default=SimConfig.produce_per_s)
    p.add_argument("--trim-per-s", type=float, default=SimConfig.trim_per_s,
                   help="log start moves (DeleteRecords, retention) per simulated second")
    p.add_argument("--idempotent-per-s", type=float, default=SimConfig.idempotent_per_s,
                   help="batches of idempotent producers (retried with their sequence) per simulated second")
    p.add_argument("--compact-per-s", type=float, default=SimConfig.compact_per_s,
                   help="tombstones and compaction passes per simulated second")
    p.add_argument("--topics-per-s", type=float, default=SimConfig.topics_per_s,
                   help="topics created and partitions added (metadata group) per simulated second")
    p.add_argument("--empty-disks", action="store_true")
    p.add_argument("--replicas", type=int, default=0, help="replicas per partition group (0: every node)")
    p.add_argument("--catalogue-per-s", type=float, default=0.0,
                   help="metadata catalogue changes (topics, partition moves started, cancelled, reported) per second")
    p.add_argument("--moves-per-s", type=float, default=0.0,
                   help="partition moves (one replica swapped for another node) started per simulated second")
    p.add_argument("--throttle-bytes-per-s", type=int, default=0,
                   help="each node's throttle of what its partition leaders send to learners (0: off)")
    p.add_argument("--no-cluster-id", action="store_true",
                   help="the metadata leader gives the cluster no id (seeds from before cluster ids)")
    p.add_argument("--metadata-voters", type=int, default=0,
                   help="the metadata group keeps this many voters (the leader's policy, "
                        "kraft.node.metadata_members), the other nodes its learners (0: every node votes)")
    p.add_argument("--decommissions", type=int, default=0,
                   help="nodes decommissioned in the fault phase (with --metadata-voters): each leaves the "
                        "metadata group once drained and caught up, then stops for good")
    p.add_argument("--crashes-inside-iterations", action="store_true",
                   help="every other crash falls between a node's early sends (leaders' appends) and its "
                        "store commit")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes running seeds")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "tests.sim.run", *(argv or sys.argv[1:])])
    with mutant(args.mutant):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    config = SimConfig(nodes=args.nodes, partitions=args.partitions, empty_disks=args.empty_disks,
                       duration_s=args.duration_s, produce_per_s=args.produce_per_s,
                       trim_per_s=args.trim_per_s, idempotent_per_s=args.idempotent_per_s,
                       compact_per_s=args.compact_per_s, topics_per_s=args.topics_per_s, replicas=args.replicas,
                       moves_per_s=args.moves_per_s, catalogue_per_s=args.catalogue_per_s,
                       cluster_id=not args.no_cluster_id, metadata_voters=args.metadata_voters,
                       decommissions=args.decommissions,
                       throttle_bytes_per_s=args.throttle_bytes_per_s,
                       crashes_inside_iterations=args.crashes_inside_iterations)
    if args.scenario:
        config, schedule = SCENARIOS[args.scenario]
        result = run_seed(args.seed or 1, config, schedule)
        for line in result.trace if args.verbose or result.violation else []:
            print(line)
        print(f"scenario {args.scenario}: " + (f"FAILED: {result.violation}" if result.violation else
                                               f"ok ({result.acked} acknowledged)"))
        return 1 if result.violation else 0
    if args.seed_list:
        for seed in [int(s) for s in args.seed_list.split(",") if s.strip()]:
            result = run_seed(seed, config)
            if result.violation:
                report(result, config, not args.no_shrink)
                return 1
            print(f"seed {seed}: ok ({result.acked} acknowledged, {result.sim_s:.1f} simulated s)")
        return 0
    if args.seed is not None:
        result = run_seed(args.seed, config)
        if args.verbose:
            for line in result.trace:
                print(line)
        if result.violation:
            report(result, config, not args.no_shrink)
            return 1
        print(f"seed {args.seed}: ok ({result.acked} acknowledged, {result.sim_s:.1f} simulated s, "
              f"{result.steps} steps)")
        return 0
    start = time.monotonic()
    ran = acked = 0
    sim_s = 0.0
    last_seed = args.first - 1
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        while (ran < args.seeds) if args.seeds else (time.monotonic() - start < args.budget_s):
            count = args.jobs * ROUND_PER_JOB
            if args.seeds:
                count = min(count, args.seeds - ran)
            seeds = list(range(last_seed + 1, last_seed + 1 + count))
            for result in pool.imap(_run_one, [(seed, config) for seed in seeds]):
                ran += 1
                acked += result.acked
                sim_s += result.sim_s
                last_seed = result.seed
                if result.violation:
                    pool.terminate()
                    report(result, config, not args.no_shrink)
                    return 1
                if ran % 100 == 0:
                    elapsed = time.monotonic() - start
                    print(f"  {ran} seeds ({args.first}..{last_seed}) ok, {elapsed:.0f}s, "
                          f"{ran / elapsed * 60:.0f} seeds/min", flush=True)
    elapsed = time.monotonic() - start
    print(f"{ran} seeds ({args.first}..{last_seed}) passed in {elapsed:.1f}s with {args.jobs} processes "
          f"({ran / max(elapsed, 1e-9) * 60:.0f}/min; {acked} acknowledged writes, {sim_s:.0f} simulated s)")
    return 0


def _run_one(job: tuple[int, SimConfig]) -> Result:
    return run_seed(*job)


if __name__ == "__main__":
    sys.exit(main())
