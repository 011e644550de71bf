"""The billing order's guarantee, on a model of the run: under overload, no session is left
over by two runs of consecutive minutes as long as each run gets through enough of the work
(half of it with one worker), and the old fixed order leaves the same sessions every time."""

import heapq
from typing import List, Set, Tuple

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.domain.billing_order import ShardRead, billing_order


def fixed_order(minute: int, shards: int) -> List[ShardRead]:
    """What runs did before: the same shards in the same order and direction every minute."""
    return [ShardRead(shard, True) for shard in range(shards)]


def left_over(order, minute: int, sizes: List[int], workers: int, time: int) -> Set[Tuple[int, int]]:
    """(shard, position by started_at_ms) of the sessions a run leaves unbilled. Model of
    run_billing: each session takes one unit; `workers` take the shards in order, each the
    next one as soon as it is free; a worker takes no session once `time` units have passed."""
    free_at = [(0, worker) for worker in range(workers)]
    left = set()
    for shard, forward in order(minute, len(sizes)):
        started, worker = heapq.heappop(free_at)
        size = sizes[shard]
        billed = min(size, max(0, time - started))
        heapq.heappush(free_at, (started + billed, worker))
        positions = range(size) if forward else range(size - 1, -1, -1)
        left.update((shard, position) for position in list(positions)[billed:])
    return left


def left_twice(order, minute, sizes, workers, time) -> Set[Tuple[int, int]]:
    return left_over(order, minute, sizes, workers, time) & left_over(order, minute + 1, sizes, workers, time)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


shard_sizes = st.lists(st.integers(0, 12), min_size=1, max_size=10)
minutes = st.integers(0, 10**8)


def test_every_shard_once_and_each_minute_the_reverse_of_the_one_before():
    assert billing_order(30_000_000, 4) == [(0, True), (1, True), (2, True), (3, True)]
    assert billing_order(30_000_001, 4) == [(3, False), (2, False), (1, False), (0, False)]
    for minute in range(5):
        this, following = billing_order(minute, 7), billing_order(minute + 1, 7)
        assert sorted(shard for shard, _ in this) == list(range(7))
        assert following == [ShardRead(shard, not forward) for shard, forward in reversed(this)]


@settings(max_examples=500, deadline=None)
@given(sizes=shard_sizes, minute=minutes, data=st.data())
def test_one_worker_getting_through_half_the_work_never_leaves_a_session_twice(sizes, minute, data):
    load = sum(sizes)
    capacity = data.draw(st.integers(ceil_div(load, 2), load), label="capacity")
    assert left_twice(billing_order, minute, sizes, 1, capacity) == set()


@settings(max_examples=500, deadline=None)
@given(sizes=shard_sizes, minute=minutes, workers=st.integers(2, 6), data=st.data())
def test_workers_getting_through_half_the_work_plus_half_a_shard_each_never_leave_a_session_twice(
    sizes, minute, workers, data
):
    needed = ceil_div(sum(sizes) + (workers - 1) * max(sizes), 2 * workers)  # 2WT >= L + (W-1)S
    time = data.draw(st.integers(needed, needed + 3), label="time per worker")
    assert left_twice(billing_order, minute, sizes, workers, time) == set()


@settings(max_examples=300, deadline=None)
@given(sizes=shard_sizes, minute=minutes, data=st.data())
def test_the_old_fixed_order_leaves_the_same_sessions_every_run_however_close_it_gets(sizes, minute, data):
    load = sum(sizes)
    assume(load >= 2)  # a run that bills half but not all
    capacity = data.draw(st.integers(ceil_div(load, 2), load - 1), label="capacity")
    first = left_over(fixed_order, minute, sizes, 1, capacity)
    assert first and left_twice(fixed_order, minute, sizes, 1, capacity) == first


def test_with_one_worker_half_the_work_is_also_the_least_that_works():
    # 3 sessions, 1 a run: the first run leaves positions 1 and 2, the second (backward) 0 and 1.
    assert left_twice(billing_order, 0, [3], 1, 1) == {(0, 1)}


def test_with_workers_half_the_work_alone_is_not_enough():
    # Two workers, 5 units each: 10 of 20, half the work. Minute 0 bills shards 0 and 1 and
    # never opens 2, 3, 4; minute 1 gives shards 4 and 3 both workers first, so shard 2 starts
    # at 3 and reads 2 of its 4 from the far end. With S = 5 the guarantee asks 2·2·T >= 25.
    sizes = [5, 5, 4, 3, 3]
    assert left_twice(billing_order, 0, sizes, 2, 5) == {(2, 0), (2, 1)}
    assert left_twice(billing_order, 0, sizes, 2, 7) == set()
