"""Admission and balancing over a deployment's instances."""

from __future__ import annotations

import asyncio

import pytest

from mlkube.errors import ModelContainerError, TooManyRequestsError
from mlkube.gateway import DeploymentRoute
from mlkube.gateway.instances import InstancePool
from tests.gateway.native import python_only

pytestmark = python_only("unit tests of mlkube.gateway.instances, the Python pool")


def _pool(instances=2, per_instance=2, queue_ms=0, cool_down_s=1.0, **kwargs):
    urls = tuple(f"http://h:{5000 + i}" for i in range(instances))
    return InstancePool(DeploymentRoute("blue", urls,
                                        max_concurrent_requests_per_instance=per_instance,
                                        max_queue_wait_ms=queue_ms, **kwargs),
                        cool_down_s=cool_down_s)


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


def test_instance_in_cool_down_is_avoided_until_it_ends():
    async def scenario():
        pool = _pool(instances=2, per_instance=4, cool_down_s=0.05)
        assert pool.mark_unhealthy(0) is True
        assert pool.mark_unhealthy(0) is False  # already avoided: one log line, not two
        taken = [await pool.acquire() for _ in range(3)]
        assert taken == [1, 1, 1]  # even though instance 0 is idle
        await asyncio.sleep(0.06)
        assert await pool.acquire() == 0  # cool-down over: least busy again

    asyncio.run(scenario())


def test_when_every_instance_cools_down_requests_still_go_somewhere():
    async def scenario():
        pool = _pool(instances=2, per_instance=1)
        pool.mark_unhealthy(0)
        pool.mark_unhealthy(1)
        assert sorted([await pool.acquire(), await pool.acquire()]) == [0, 1]

    asyncio.run(scenario())


def test_retarget_moves_the_slot_to_an_untried_healthy_instance_first():
    async def scenario():
        pool = _pool(instances=3, per_instance=2)
        index = await pool.acquire()
        assert index == 0
        pool.mark_unhealthy(1)
        moved = pool.retarget(0, tried=[0])
        assert moved == 2  # 1 is cooling down, so the healthy 2 comes first
        assert pool.in_flight == [0, 0, 1] and pool.total_in_flight == 1
        assert pool.retarget(2, tried=[0, 2]) == 1  # then the cooling one, once
        assert pool.retarget(1, tried=[0, 2, 1]) is None
        pool.release(1)
        assert pool.total_in_flight == 0 and pool.in_flight == [0, 0, 0]

    asyncio.run(scenario())
