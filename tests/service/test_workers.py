"""The service's worker pool: bounded waits, time budgets that really stop work, budgets."""

from __future__ import annotations

import functools
import random
import threading
import time
from typing import Callable, List, Tuple

import pytest

from localtypes.service.workers import Budget, Overloaded, TimedOut, WorkerPool


def spin(n: int) -> Callable[[], int]:
    def work() -> int:
        total = 0
        for i in range(n):
            total += i
        return total

    return work


def test_result_and_exception_come_back() -> None:
    pool = WorkerPool(1)
    assert pool.run(spin(10), queue_timeout=1, timeout=5) == 45

    def broken() -> int:
        raise KeyError("nope")

    with pytest.raises(KeyError):
        pool.run(broken, queue_timeout=1, timeout=5)
    assert pool.busy == 0


def test_a_job_past_its_budget_is_stopped_and_gives_its_slot_back() -> None:
    pool = WorkerPool(1)
    start = time.monotonic()
    with pytest.raises(TimedOut):
        pool.run(spin(10**12), queue_timeout=1, timeout=0.2)  # hours of work if not stopped
    assert time.monotonic() - start < 1
    deadline = time.monotonic() + 5
    while pool.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.busy == 0
    assert pool.run(spin(10), queue_timeout=1, timeout=5) == 45


def test_no_free_worker_within_the_queue_timeout_is_overloaded() -> None:
    pool = WorkerPool(1)
    gate = threading.Event()

    def hold() -> int:
        while not gate.wait(0.01):
            pass
        return 1

    holder = threading.Thread(target=lambda: pool.run(hold, queue_timeout=1, timeout=10))
    holder.start()
    while pool.busy == 0:
        time.sleep(0.01)
    with pytest.raises(Overloaded):
        pool.run(spin(10), queue_timeout=0.05, timeout=1)
    gate.set()
    holder.join(5)
    assert pool.busy == 0


def test_racing_timeouts_never_leak_slots_budget_or_workers() -> None:
    """Budgets close to the jobs' length: cancellations land everywhere, or just too late."""
    pool = WorkerPool(2)
    budget = Budget(8)
    outcomes: List[str] = []
    rng = random.Random(7)
    plans = [(rng.randint(1, 8), rng.randint(100, 200_000), rng.choice([0.0005, 0.002, 0.01]))
             for _ in range(400)]  # fmt: skip

    def client(part: List[Tuple[int, int, float]]) -> None:
        for amount, size, timeout in part:
            try:
                job = functools.partial(budget.run, amount, spin(size))
                pool.run(job, queue_timeout=5, timeout=timeout)
                outcomes.append("ok")
            except TimedOut:
                outcomes.append("timeout")

    threads = [threading.Thread(target=client, args=(plans[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 400 and "ok" in outcomes and "timeout" in outcomes
    deadline = time.monotonic() + 5
    while (pool.busy or budget.free != budget.total) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.busy == 0
    assert budget.free == budget.total
    assert all(thread.is_alive() for thread in pool._threads)
    assert pool.run(spin(10), queue_timeout=1, timeout=5) == 45
