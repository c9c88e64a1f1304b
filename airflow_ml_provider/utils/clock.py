"""The one clock of deadlines: the wall clock is read only where a deadline passes between processes.

A deadline travels from the worker to the triggerer as epoch seconds, the only time two machines share.
Inside a process it is counted on the monotonic clock, so a step of the wall clock during a wait (an NTP
step, a resumed VM) neither ends the wait early nor stretches it, in poke, deferrable and the operators'
own waits alike.
"""

from __future__ import annotations

import time


def deadline_in(seconds: float) -> float:
    """The deadline ``seconds`` from now as epoch seconds, to hand to another process (a trigger)."""
    return time.time() + seconds


def local_deadline(epoch_deadline: float) -> float:
    """The moment on this process's monotonic clock at which an epoch-seconds deadline falls."""
    return time.monotonic() + (epoch_deadline - time.time())
