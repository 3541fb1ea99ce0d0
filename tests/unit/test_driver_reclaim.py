"""When the driver loop deletes discarded rows: along with a commit it makes anyway, or alone at
most every RECLAIM_ALONE_EVERY_S (a slice's own commit is an fsync queued before the appends')."""

from __future__ import annotations

from kraft.raft.driver import RECLAIM_ALONE_EVERY_S, RECLAIM_ROWS_PER_ITERATION, GroupDriver


class _Store:
    def __init__(self) -> None:
        self.writes = False
        self.commits = 0

    def has_writes(self) -> bool:
        return self.writes

    def commit(self) -> bool:
        written, self.writes = self.writes, False
        self.commits += written
        return written


class _Journal:
    def take_appended(self) -> int:
        return 0


class _Group:
    """A group with ``rows`` discarded rows of cost 1 left to delete."""

    def __init__(self, gid: int, rows: int) -> None:
        self.journal = _Journal()
        self.quiescent = False
        self.gid = gid
        self.rows = rows
        self.reclaim_pending = rows > 0
        self.slices = 0

    def doTick(self, _: int) -> None:
        pass

    def needs_tick(self) -> bool:
        return False

    def is_leader(self) -> bool:
        return False

    def note_durable(self) -> None:
        pass

    def reclaim(self, budget: int) -> int:
        spent = min(budget, self.rows)
        self.rows -= spent
        self.reclaim_pending = self.rows > 0
        self.slices += 1
        return spent


class _Host:
    def release_early(self) -> None:
        pass


def _driver(store: _Store, *groups: _Group) -> GroupDriver:
    driver = GroupDriver(host=_Host(), store=store, tick_interval_s=0.1)  # type: ignore[arg-type]
    for g in groups:
        driver.groups[g.gid] = g  # type: ignore[assignment]
    return driver


def test_a_lone_slice_at_most_every_interval() -> None:
    store = _Store()
    group = _Group(7, rows=10 * RECLAIM_ROWS_PER_ITERATION)
    driver = _driver(store, group)
    driver.wake(7)
    driver.run_iteration(0.0)
    assert group.slices == 1, "the first slice goes at once"
    assert driver.next_tick_at() == RECLAIM_ALONE_EVERY_S, "the loop wakes for the next slice"
    for now in (0.001, 0.005, RECLAIM_ALONE_EVERY_S / 2):
        driver.run_iteration(now)
    assert group.slices == 1, "no commit of its own before the interval is over"
    driver.run_iteration(RECLAIM_ALONE_EVERY_S)
    assert group.slices == 2


def test_slices_ride_along_with_other_writes() -> None:
    store = _Store()
    group = _Group(7, rows=10 * RECLAIM_ROWS_PER_ITERATION)
    driver = _driver(store, group)
    driver.wake(7)
    driver.run_iteration(0.0)

    def write() -> None:
        store.writes = True  # an append, say: this iteration commits anyway

    for i in range(1, 4):
        driver.call(write)
        driver.run_iteration(i * 0.001)
    assert group.slices == 4, "every iteration that commits anyway deletes a slice"
    assert store.commits == 3


def test_budget_shared_in_order_and_done_groups_forgotten() -> None:
    store = _Store()
    small, big = _Group(1, rows=10), _Group(2, rows=3 * RECLAIM_ROWS_PER_ITERATION)
    driver = _driver(store, small, big)
    driver.wake(1)
    driver.wake(2)
    now = 0.0
    while small.reclaim_pending or big.reclaim_pending:
        driver.run_iteration(now)
        now += RECLAIM_ALONE_EVERY_S
        assert now < 1.0, "reclaim never ends"
    assert (small.rows, big.rows) == (0, 0)
    assert driver.next_tick_at() == driver._next_full_tick, "nothing left: only ticks wake the loop"


def test_simulator_mode_never_wakes_the_loop_for_reclaim() -> None:
    store = _Store()
    group = _Group(7, rows=10 * RECLAIM_ROWS_PER_ITERATION)
    driver = _driver(store, group)
    driver.reclaim_wakes_loop = False
    driver.wake(7)
    driver.run_iteration(0.0)
    assert group.reclaim_pending and driver.next_tick_at() == driver._next_full_tick
    assert not driver.busy()

