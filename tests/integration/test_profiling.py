"""``GET /debug/profile`` on a live ingest worker: absent without LOGISTICA_DEBUG_TOKEN,
refused without the token, and a real sample of the running process with it."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.support.ingest import running_worker, signed, source

GITHUB = source("gh", "github")
TOKEN = "pr0file-me"


@pytest.fixture(autouse=True)
def no_drain_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGISTICA_DRAIN_DELAY_SECONDS", "0")


async def test_absent_without_a_token(monkeypatch: pytest.MonkeyPatch, migrated: str) -> None:
    monkeypatch.delenv("LOGISTICA_DEBUG_TOKEN", raising=False)
    async with running_worker([GITHUB], migrated) as w, aiohttp.ClientSession() as http:
        async with http.get(f"{w.url}/debug/profile") as resp:
            assert resp.status == 404


async def test_profiles_a_busy_worker(monkeypatch: pytest.MonkeyPatch, migrated: str) -> None:
    monkeypatch.setenv("LOGISTICA_DEBUG_TOKEN", TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with running_worker([GITHUB], migrated) as w, aiohttp.ClientSession() as http:
        url = f"{w.url}/debug/profile"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            async with http.get(url, headers=headers) as resp:
                assert resp.status == 401 and (await resp.json())["error"] == "unauthorized"
        for query, field in (
            ({"seconds": "0"}, "seconds"),
            ({"seconds": "nan"}, "seconds"),
            ({"seconds": "61"}, "seconds"),
            ({"hz": "0"}, "hz"),
            ({"format": "pprof"}, "format"),
            ({"secs": "1"}, "secs"),
        ):
            async with http.get(url, params=query, headers=auth) as resp:
                body = await resp.json()
                assert (resp.status, body["field"]) == (400, field), body

        async def load(until: float) -> int:
            sent = 0
            while time.monotonic() < until:
                body, headers = signed(GITHUB, {"n": sent}, delivery_id=f"prof-{sent}")
                async with http.post(f"{w.url}/ingest/gh", data=body, headers=headers) as r:
                    assert r.status == 202
                sent += 1
            return sent

        t0 = time.monotonic()
        profile_req = http.get(url, params={"seconds": "1", "hz": "200"}, headers=auth)
        resp, sent = await asyncio.gather(profile_req, load(time.monotonic() + 1.0))
        async with resp:
            assert resp.status == 200 and resp.content_type == "text/plain"
            text = await resp.text()
        assert time.monotonic() - t0 < 5
        assert sent > 10  # the worker kept serving while it was sampled
        lines = text.splitlines()
        total = sum(int(line.rsplit(" ", 1)[1]) for line in lines)
        assert total >= 100  # ~200 samples of the main thread (more threads add more)
        main = [line for line in lines if line.startswith("thread MainThread;")]
        # the event loop, caught between and inside requests
        assert main and any("_run_once (" in line for line in main), text[:2000]

        # one at a time: a second request while one runs is told to wait
        first = asyncio.ensure_future(http.get(url, params={"seconds": "1"}, headers=auth))
        await asyncio.sleep(0.3)
        async with http.get(url, params={"seconds": "1"}, headers=auth) as resp:
            assert resp.status == 409
        (await first).release()

        params = {"seconds": "0.3", "format": "speedscope"}
        async with http.get(url, params=params, headers=auth) as resp:
            doc = await resp.json()
        profile = doc["profiles"][0]
        assert profile["type"] == "sampled" and len(profile["samples"]) == len(profile["weights"])
        frames = doc["shared"]["frames"]
        assert all(0 <= i < len(frames) for stack in profile["samples"] for i in stack)
