"""Seeds that once found a bug, replayed in every CI run (with the default SimConfig).

297: a follower whose conflicting term began before the leader's match index sent a conflict hint
     below that match; the leader took it for a stale reply and the follower never caught up
     (fixed in raft/progress.py's ``on_reset``).
"""

SEEDS = [297]
