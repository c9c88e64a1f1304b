"""One poller per event loop and connection that watches every waiting batch prediction with a few list calls.

A triggerer with a thousand deferred tasks would otherwise call ``GetBatchPrediction`` a thousand
times per interval. The poller reads the account's running jobs with ``DescribeBatchPredictions``
pages (``Status`` = ``PENDING``, then ``INPROGRESS``). Watched jobs those lists do not show have
mostly just finished: it then lists the jobs updated since the previous listing cycle began
(``LastUpdatedAt`` >= that moment less a margin, newest first) and takes their final status from
there. A ``DescribeBatchPredictions`` entry carries every member of ``GetBatchPrediction`` but
``LogUri``, which nothing downstream reads, so an event built from it needs no extra call. Only the
watched jobs that none of the lists shows (finished long ago, or the lists lag) cost one
``GetBatchPrediction`` each, so an event never rests on a list being fresh. Each trigger keeps its
own :class:`~airflow_ml_provider.waiting.EntityWait`: the poller feeds it one observation per
cycle it takes part in and schedules it as it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_ml_provider.hooks.machine_learning import (
    CALL_ERRORS,
    MachineLearningHook,
    SharedClient,
    describe_call_error,
)
from airflow_ml_provider.kinds import BATCH_PREDICTION
from airflow_ml_provider.utils.status import INPROGRESS, PENDING
from airflow_ml_provider.waiting import EntityWait, WaitResult, backoff, is_retryable

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# PENDING first: a job that starts between the two lists then shows in one of them, never in neither.
LISTED_STATUSES = (PENDING, INPROGRESS)
PAGE_LIMIT = 100
# The list of recently updated jobs reaches this far before the previous listing cycle's start, for
# clock skew and for the service's own delay between a status change and its lists.
UPDATED_SINCE_MARGIN_SECONDS = 5.0
# Beyond this many pages of recently updated jobs, the jobs not seen yet are asked for one by one.
MAX_UPDATED_PAGES = 10
# Triggers created by the same triggerer loop iteration are served by one first cycle.
JOIN_GATHER_SECONDS = 0.1
# Timers fire a little late; a wait due this close to a cycle's start joins it rather than the next.
DUE_TOLERANCE_SECONDS = 0.05
# GetBatchPrediction calls in flight at once; while the lists fail, those nearest their deadline go first.
MAX_CONCURRENT_GETS = 20
# A wait the poller has not answered this long after its deadline (a slow call kept it busy) ends then:
# within the second a completion may take to be reported. Half of it is the last look's (see
# :meth:`BatchPredictionPoller._last_look`).
DEADLINE_GRACE_SECONDS = 1.0
# After the service refuses the list call itself (not a throttle), ask job by job for this many intervals.
LISTING_REFUSED_INTERVALS = 10


class PollerStopped(Exception):
    """The poller a wait was registered with stopped; the wait moves to a new one."""


@dataclass(eq=False, slots=True)
class Watch:
    """
    One trigger's registration: its wait, when it is next due and how its result reaches it.

    :param wait: The trigger's wait; the poller feeds it and obeys its answers.
    :param future: Resolved with the wait's result.
    :param context: The trigger's context variables, so that its log lines stay its own.
    :param due: When it polls next, on the poller's clock (see :meth:`BatchPredictionPoller.now`).
    :param expiry: What ends the wait at its deadline (the timer, then the last look), or None without one.
    """

    wait: EntityWait
    future: asyncio.Future[WaitResult]
    context: contextvars.Context
    due: float = 0.0
    expiry: asyncio.TimerHandle | asyncio.Task[None] | None = None

    def observe(self, method: Callable[..., _T], *arguments: Any) -> _T:
        return self.context.run(method, *arguments)


def next_due(cycle_started: float, seconds: float, delay: float) -> float:
    """
    When a wait polls next, on a grid of multiples of its delay when it sleeps that long.

    Waits with the same delay then poll in the same cycles whenever they joined; the first interval
    after joining is the only one shortened, by less than one delay. A shorter sleep (a deadline
    close by) is kept exact.
    """
    if delay <= 0 or seconds < delay:
        return cycle_started + seconds
    # A cycle that began just before a grid point (within the tolerance) served that point already.
    return math.floor((cycle_started + seconds + DUE_TOLERANCE_SECONDS) / delay) * delay


class BatchPredictionPoller:
    """
    Watches every waiting batch prediction of one connection in one event loop.

    It runs while at least one wait is registered and holds the connection's shared aiobotocore
    client meanwhile. A cycle lists the running jobs when that costs fewer calls than asking for each
    due job, then the recently updated ones if a due job is in neither status list, and asks for the
    rest. A list call that is throttled or fails never decides an answer: listing pauses (backing off)
    while the due jobs are asked for one by one, nearest deadline first, :data:`MAX_CONCURRENT_GETS` at a
    time; each wait backs off from its own failed polls as its :class:`EntityWait` says, never past its
    deadline, and a wait whose deadline passes while the poller is busy ends at once.

    :param hook: The hook of the connection, which makes every call.
    :param key: The connection settings' key in the registry.
    """

    def __init__(self, hook: MachineLearningHook, key: str) -> None:
        self.hook = hook
        self.key = key
        self.watches: set[Watch] = set()
        self.stopped = False
        self.cycles = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._list_calls_estimate = len(LISTED_STATUSES)
        self._refusals_in_a_row = 0
        self._listing_paused_until = 0.0
        self._listing_refused_until = 0.0
        self._updated_refused_until = 0.0
        # When the last cycle whose status lists succeeded began; None before the first one.
        self._listed_at: float | None = None
        # By delay, when the first cycle of waits deferred together is due (see :meth:`_first_due`).
        self._gathering: dict[float, float] = {}
        # The client of the running poller, for a last look at a wait outside its cycles.
        self._shared: SharedClient | None = None
        # Epoch seconds as of the poller's start, counted on the monotonic clock: see :meth:`now`.
        self._epoch_offset = time.time() - time.monotonic()

    def now(self) -> float:
        """
        The poller's clock, which every due moment is on: epoch seconds as of its start, then monotonic.

        A step of the wall clock (NTP, a resumed VM) then neither stalls the waits nor rushes them; the
        waits' deadlines are on the monotonic clock too (see :mod:`airflow_ml_provider.utils.clock`).
        """
        return time.monotonic() + self._epoch_offset

    def register(self, wait: EntityWait) -> Watch:
        """Watch ``wait`` until it ends: its watch's future gets the result; then :meth:`unregister` it."""
        loop = asyncio.get_running_loop()
        watch = Watch(wait, loop.create_future(), contextvars.copy_context(), self._first_due(wait))
        if wait.deadline is not None:
            # However long a call of the poller's takes, the wait ends at its deadline.
            delay = max(wait.remaining(), 0.0) + DEADLINE_GRACE_SECONDS / 2
            watch.expiry = loop.call_later(delay, self._last_look, watch)
        self.watches.add(watch)
        self._start()
        self._wakeup.set()
        return watch

    def unregister(self, watch: Watch) -> None:
        if watch.expiry is not None:
            watch.expiry.cancel()
        self.watches.discard(watch)
        delay = watch.wait.delay
        # A gathering whose every wait left before its cycle (their triggers were cancelled) is forgotten.
        if (
            not watch.wait.attempts
            and delay in self._gathering
            and not any(other.wait.delay == delay and not other.wait.attempts for other in self.watches)
        ):
            del self._gathering[delay]
        self._wakeup.set()

    def _last_look(self, watch: Watch) -> None:
        """
        End a wait that its deadline's grace found unanswered: the poller is busy with a slow call.

        One ``GetBatchPrediction`` of its own, given the other half of the grace, decides first: a job
        that completed is a success, never a timeout because the lists were slow.
        """
        if not watch.future.done():
            watch.expiry = watch.observe(asyncio.ensure_future, self._look_once(watch))

    async def _look_once(self, watch: Watch) -> None:
        step: WaitResult | float | None = None
        if self._shared is not None:
            # Whatever this look meets (an error, no answer in time), the deadline has passed: a timeout.
            with contextlib.suppress(Exception):
                poll = self.hook.poll_async(self._shared, watch.wait)
                step = await asyncio.wait_for(poll, DEADLINE_GRACE_SECONDS / 2)
        if not watch.future.done():
            watch.future.set_result(step if isinstance(step, WaitResult) else watch.wait.expire())

    def _first_due(self, wait: EntityWait) -> float:
        """
        When a wait polls first: in the next cycle of the waits of its delay, if there are any.

        The first wait of its delay polls after :data:`JOIN_GATHER_SECONDS`, and the waits deferred
        beside it join that cycle. Later ones join the cycle at the grid point of their delay ahead (see
        :func:`next_due`), within one delay, as every later poll is: that cycle's listing answers them
        with the others, where polling at once would cost a call each; a cycle under way has listed
        without them. None that joins others polls first past its deadline; a wait moved from a stopped
        poller polls at once. Registering scans the watches only until one of its delay: thousands may
        register in one burst.
        """
        now = self.now()
        if wait.attempts:
            return now
        deadline = now + max(wait.remaining(), 0.0)
        gathering = self._gathering.get(wait.delay, -math.inf)
        if now < gathering <= now + JOIN_GATHER_SECONDS:
            return min(gathering, deadline)
        # Short-circuits at the first watch in the usual case of one delay for all.
        if any(watch.wait.delay == wait.delay for watch in self.watches):
            # The grid point ahead: a cycle begins at its point or after, never before it.
            return min(math.ceil(now / wait.delay) * wait.delay if wait.delay > 0 else now, deadline)
        self._gathering[wait.delay] = now + JOIN_GATHER_SECONDS
        return min(now + JOIN_GATHER_SECONDS, deadline)

    def _start(self) -> None:
        if self._task is None:
            # An empty context: the poller's own log lines belong to no single trigger.
            self._task = contextvars.Context().run(
                asyncio.get_running_loop().create_task,
                self._run(),
                name=f"batch-prediction-poller {self.key}",
            )

    async def _run(self) -> None:
        try:
            async with self.hook.async_client() as shared:
                self._shared = shared
                while True:
                    due = await self._next_due()
                    if due is None:
                        break
                    try:
                        await self._cycle(shared, due)
                    except Exception as error:
                        # What the per-job path would raise from its poll ends the waits it hit, as there.
                        for watch in due:
                            _fail(watch, error)
        except asyncio.CancelledError:
            for watch in self.watches:
                _fail(watch, PollerStopped("the poller was cancelled"))
            raise
        except Exception as error:
            # Say why to every wait, e.g. that the connection could not give a client.
            for watch in self.watches:
                _fail(watch, error)
        finally:
            self.stopped = True
            self._shared = None
            _forget(self)

    async def _next_due(self) -> list[Watch] | None:
        """Sleep until some waits are due; None once no wait is left, which stops the poller."""
        while True:
            if not self.watches:
                # Set before any await: a wait registering from now on starts a new poller.
                self.stopped = True
                _forget(self)
                return None
            now = self.now()
            # Gathering moments past are forgotten: one is kept only while its waits are to come.
            self._gathering = {delay: at for delay, at in self._gathering.items() if at > now}
            start = min(watch.due for watch in self.watches)
            if start <= now:
                return [watch for watch in self.watches if watch.due <= now + DUE_TOLERANCE_SECONDS]
            self._wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), start - now)

    async def _cycle(self, shared: SharedClient, due: list[Watch]) -> None:
        started = self.now()
        self.cycles += 1
        listed: dict[str, dict[str, Any]] = {}
        if (
            len(due) > self._list_calls_estimate
            and started >= self._listing_refused_until
            and started >= self._listing_paused_until
        ):
            try:
                listed = await self._list(shared, {watch.wait.entity_id for watch in due}, started)
                self._refusals_in_a_row = 0
            except CALL_ERRORS as error:
                self._listing_failed(started, due, *describe_call_error(error))
        unlisted = []
        for watch in due:
            description = listed.get(watch.wait.entity_id)
            if description is None:
                unlisted.append(watch)
            else:
                self._settle(watch, watch.observe(watch.wait.on_description, description), started)
        if unlisted:
            # Asked for one by one, the waits nearest their deadline first.
            unlisted.sort(key=lambda watch: watch.wait.deadline or math.inf)
            await self._get_each(shared, unlisted, started)

    def _listing_failed(self, now: float, due: list[Watch], code: str, message: str) -> None:
        """
        Stop listing for a while after a list call failed; the due jobs are asked for one by one meanwhile.

        The service refusing the list call itself (no permission, say) stops listing for
        :data:`LISTING_REFUSED_INTERVALS` intervals; a retryable failure pauses it, doubling the pause
        with each failure in a row.
        """
        if not is_retryable(code):
            log.warning("Listing batch predictions failed (%s: %s); asking job by job", code, message)
            self._listing_refused_until = now + LISTING_REFUSED_INTERVALS * _least_delay(due)
            return
        self._refusals_in_a_row += 1
        pause = backoff(_least_delay(due), self._refusals_in_a_row)
        self._listing_paused_until = now + pause
        log.warning(
            "Listing batch predictions failed with %s; asking job by job, listing again in %.1f s",
            code,
            pause,
        )

    async def _list(
        self, shared: SharedClient, wanted: set[str], started: float
    ) -> dict[str, dict[str, Any]]:
        """
        The running jobs, then the recently updated ones if some wanted job is in neither status list.

        Lists are newest first, so that jobs starting meanwhile do not shift later pages. A job in
        several lists keeps its entry from the last one read, the freshest. The status lists take at
        most as many calls as there are wanted jobs, what asking for each would cost: where most running
        jobs are other callers', the ones not seen by then are asked for one by one.
        """
        listed: dict[str, dict[str, Any]] = {}
        missing = set(wanted)
        calls = 0
        for status in LISTED_STATUSES:
            filters = {"FilterVariable": "Status", "EQ": status}
            calls += await self._read_pages(shared, filters, listed, missing, len(wanted) - calls)
        # The service's times are on the wall clock: so is the moment the listing began.
        since, self._listed_at = self._listed_at, time.time() - (self.now() - started)
        if missing and since is not None and started >= self._updated_refused_until:
            calls += await self._list_updated(shared, since - UPDATED_SINCE_MARGIN_SECONDS, listed, missing)
        self._list_calls_estimate = max(calls, len(LISTED_STATUSES))
        return listed

    async def _list_updated(
        self, shared: SharedClient, since: float, listed: dict[str, dict[str, Any]], missing: set[str]
    ) -> int:
        """
        Add the jobs updated at or after ``since`` to ``listed``; return the calls made.

        The status lists were read first, so a job that left them before they were read was updated
        after the previous listing cycle began and is here, unless the lists lag. Its failure only
        leaves the jobs not found to ``GetBatchPrediction``.
        """
        moment = datetime.datetime.fromtimestamp(since, datetime.timezone.utc)
        filters = {"FilterVariable": "LastUpdatedAt", "GE": moment.isoformat(timespec="milliseconds")}
        try:
            return await self._read_pages(shared, filters, listed, missing, MAX_UPDATED_PAGES)
        except CALL_ERRORS as error:
            code, message = describe_call_error(error)
            if not is_retryable(code):
                log.warning(
                    "Listing recently updated batch predictions failed (%s: %s); asking job by job",
                    code,
                    message,
                )
                self._updated_refused_until = self.now() + LISTING_REFUSED_INTERVALS * max(
                    self._least_listed_delay(), 1.0
                )
            else:
                log.warning("Listing recently updated batch predictions failed with %s", code)
            # Only an estimate of what listing costs: count the call that failed.
            return 1

    async def _read_pages(
        self,
        shared: SharedClient,
        filters: dict[str, str],
        listed: dict[str, dict[str, Any]],
        missing: set[str],
        max_calls: int,
    ) -> int:
        """Add one listing's jobs to ``listed``, newest first, until none is missing; return the calls made."""
        token, calls = None, 0
        while missing and calls < max_calls:
            page = await self.hook.describe_batch_predictions_async(
                shared,
                **filters,
                SortOrder="dsc",
                Limit=PAGE_LIMIT,
                **({"NextToken": token} if token else {}),
            )
            calls += 1
            for job in page.get("Results", []):
                job_id = job["BatchPredictionId"]
                # Only the wanted jobs' entries are kept: other callers' jobs may be thousands.
                if job_id in missing or job_id in listed:
                    listed[job_id] = job
                    missing.discard(job_id)
            token = page.get("NextToken")
            if not token:
                break
        return calls

    def _least_listed_delay(self) -> float:
        return _least_delay(list(self.watches)) if self.watches else 0.0

    async def _get_each(self, shared: SharedClient, watches: list[Watch], started: float) -> None:
        limit = asyncio.Semaphore(MAX_CONCURRENT_GETS)

        async def poll(watch: Watch) -> WaitResult | float:
            async with limit:
                return await self.hook.poll_async(shared, watch.wait)

        # Each poll runs in its trigger's context, for the log lines the wait writes.
        tasks = [watch.observe(asyncio.ensure_future, poll(watch)) for watch in watches]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for watch, outcome in zip(watches, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                _fail(watch, outcome)
            else:
                self._settle(watch, outcome, started)

    def _settle(self, watch: Watch, step: WaitResult | float, started: float) -> None:
        if isinstance(step, WaitResult):
            if not watch.future.done():
                watch.future.set_result(step)
            self.watches.discard(watch)
        else:
            watch.due = next_due(started, step, watch.wait.delay)


def _least_delay(watches: list[Watch]) -> float:
    return min(watch.wait.delay for watch in watches)


def _fail(watch: Watch, error: BaseException) -> None:
    if not watch.future.done():
        watch.future.set_exception(error)


_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, BatchPredictionPoller]] = (
    weakref.WeakKeyDictionary()
)


def _forget(poller: BatchPredictionPoller) -> None:
    for pollers in _pollers.values():
        if pollers.get(poller.key) is poller:
            del pollers[poller.key]


def poller_for(hook: MachineLearningHook) -> BatchPredictionPoller:
    """The running poller of the hook's connection settings in this event loop, or a new one."""
    pollers = _pollers.setdefault(asyncio.get_running_loop(), {})
    key = hook.connection_key()
    poller = pollers.get(key)
    if poller is None or poller.stopped:
        poller = pollers[key] = BatchPredictionPoller(hook, key)
    return poller


async def wait_for_batch_prediction(hook: MachineLearningHook, wait: EntityWait) -> WaitResult:
    """Wait for one batch prediction through its connection's poller; the trigger's whole wait."""
    if wait.kind != BATCH_PREDICTION:
        raise ValueError(f"kind {wait.kind.name!r}: the poller watches batch predictions only")
    # Registration happens here rather than in a coroutine of the poller's: a triggerer holds thousands of
    # these waits, and each coroutine frame fewer is memory per wait.
    while True:
        poller = poller_for(hook)
        watch = poller.register(wait)
        try:
            return await watch.future
        except PollerStopped:
            # Its loop task was cancelled while this wait goes on: carry on with a new one.
            continue
        finally:
            poller.unregister(watch)


def running_pollers() -> list[BatchPredictionPoller]:
    """The pollers running in the current event loop."""
    return list(_pollers.get(asyncio.get_running_loop(), {}).values())


def polled_waits() -> int:
    """How many waits registered in the current event loop have been polled at least once."""
    return sum(watch.wait.attempts > 0 for poller in running_pollers() for watch in list(poller.watches))
