"""The order a billing run reads the active-sessions index in, so that an overloaded billing
does not leave the same sessions behind every minute.

Runs of consecutive minutes read the index in exactly opposite orders: on even minutes shards
0..N-1, each oldest session first (`started_at_ms` ascending); on odd minutes shards N-1..0,
each newest first. What one run reaches last, the next reaches first: the shards a run never
opened are the first the next one submits, and in a shard it stopped reading, the sessions it
did not reach are the first the next one reads. (Reversing rather than rotating the order is
what makes this hold whatever the shards' sizes: rotated by half, a run can spend itself on
the same shards again while the big one behind them waits.)

Guarantee. Model: W workers take shards in the order given, each the next one as soon as it
is free (the pool's queue); a session takes the same time in both runs; a worker takes no
session once the deadline has passed, after T of work. Let L be the time to bill every active
session one after another and S the largest shard's share of it. If

    2·W·T >= L + (W - 1)·S

no session active in both runs is left over by two runs of consecutive minutes.
  * One worker: T >= L/2. A run that gets through half of the work leaves at most the other
    half, and that is exactly what the next run (its reverse) does first.
  * W workers: the deadline cuts up to W shards at once and a shard is read by one worker
    only, so half of the work is not enough: the run also needs half a shard per extra
    worker. With 16 even shards and 8 workers, S = L/16 and a run must get through 23/32
    (about 72 %) of the work.
Proof: the two runs read a shard from opposite ends, so a session of shard k is left over
twice only if they spent less than its time n_k on k; a shard started at a (a <= T) gets at
least T - a, so (T - a1) + (T - a2) < n_k. Until k starts every worker is busy with shards
queued before it; opposite orders queue disjoint sets of other shards before k, so
W·(a1 + a2) <= L - n_k. Together: 2·W·T < L + (W - 1)·n_k <= L + (W - 1)·S.
Sessions started or ended between the runs are outside the model; two runs in one minute (a
repeated event) or a skipped minute read in the same direction twice, and the next pair of
consecutive minutes has the guarantee again.
"""

from typing import List, NamedTuple


class ShardRead(NamedTuple):
    shard: int
    forward: bool  # by started_at_ms: oldest first when True


def billing_order(minute: int, shards: int) -> List[ShardRead]:
    """The shards in the order the run of `minute` (epoch ms // 60 000) submits them, each
    with the direction to read it in: the reverse of the previous minute's."""
    forward = minute % 2 == 0
    order = range(shards) if forward else reversed(range(shards))
    return [ShardRead(shard, forward) for shard in order]
