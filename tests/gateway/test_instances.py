"""Admission and balancing over a deployment's instances."""

from __future__ import annotations

import asyncio

import pytest

from mlkube.errors import ModelContainerError, TooManyRequestsError
from mlkube.gateway import DeploymentRoute
from mlkube.gateway.instances import InstancePool


def _pool(instances=2, per_instance=2, queue_ms=0, **kwargs):
    urls = tuple(f"http://h:{5000 + i}" for i in range(instances))
    return InstancePool(DeploymentRoute("blue", urls,
                                        max_concurrent_requests_per_instance=per_instance,
                                        max_queue_wait_ms=queue_ms, **kwargs))


def test_least_busy_instance_is_chosen_and_full_pool_refuses():
    async def scenario():
        pool = _pool()
        taken = [await pool.acquire() for _ in range(4)]
        assert sorted(taken) == [0, 0, 1, 1]
        with pytest.raises(TooManyRequestsError, match="2 per instance x 2 instances"):
            await pool.acquire()
        pool.release(1)
        assert await pool.acquire() == 1  # the only instance with a free slot

    asyncio.run(scenario())


def test_queued_request_gets_the_next_free_slot_in_order():
    async def scenario():
        pool = _pool(instances=1, per_instance=1, queue_ms=1000)
        first = await pool.acquire()
        waiting = [asyncio.create_task(pool.acquire()) for _ in range(2)]
        await asyncio.sleep(0)
        pool.release(first)
        assert await waiting[0] == 0
        assert not waiting[1].done()
        pool.release(0)
        assert await waiting[1] == 0
        assert pool.total_in_flight == 1

    asyncio.run(scenario())


def test_queue_wait_ends_in_429_and_leaks_no_slot():
    async def scenario():
        pool = _pool(instances=1, per_instance=1, queue_ms=50)
        held = await pool.acquire()
        with pytest.raises(TooManyRequestsError, match="max_queue_wait_ms=50"):
            await pool.acquire()
        cancelled = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        cancelled.cancel()
        pool.release(held)
        assert pool.total_in_flight == 0
        assert await pool.acquire() == 0

    asyncio.run(scenario())


def test_deployment_without_instances_reports_its_state():
    async def scenario():
        pool = _pool(instances=0, state="Creating", reason="building the image")
        with pytest.raises(ModelContainerError, match="state Creating, building the image"):
            await pool.acquire()

    asyncio.run(scenario())
