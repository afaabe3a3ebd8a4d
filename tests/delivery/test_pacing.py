"""Pacing per recipient domain: each provider's rate and concurrency, and the warm-up ramp,
watched on a fake clock (no test waits on the wall clock)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from engine.delivery.pacing import (
    DEFAULT,
    Deferred,
    DomainPacer,
    Pace,
    PacingError,
    PacingSettings,
    WarmUp,
    lane_name,
    parse_pace,
    parse_warmup,
)


class FakeTime:
    """A clock in ms that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.day = dt.date(2026, 12, 1)

    def clock_ms(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds * 1000
        await asyncio.sleep(0)

    def today(self) -> dt.date:
        return self.day


def pacer(time: FakeTime, **settings) -> DomainPacer:
    return DomainPacer(PacingSettings(**settings), clock_ms=time.clock_ms, sleep=time.sleep, today=time.today)


class Recorder:
    """A sender that notes when each message went and how many were on the wire per lane."""

    def __init__(self, time: FakeTime, pacer: DomainPacer) -> None:
        self.time, self.pacer = time, pacer
        self.sent: list[tuple[str, float]] = []
        self.peak: dict[str, int] = {}
        self.release = asyncio.Event()

    async def send(self, address: str) -> str:
        lane = self.pacer.lane(address)
        self.peak[lane.name] = max(self.peak.get(lane.name, 0), lane.in_flight)
        self.sent.append((address, self.time.now))
        await self.release.wait()
        return "250"


def test_provider_domains_share_a_lane_and_others_get_their_own():
    assert lane_name("googlemail.com") == lane_name("GMAIL.com") == "gmail.com"
    assert lane_name("hotmail.com") == lane_name("live.com") == "outlook.com"
    assert lane_name("ymail.com") == lane_name("aol.com") == "yahoo.com"
    assert lane_name("shop.example") == "shop.example"


async def test_each_lane_keeps_its_rate():
    time = FakeTime()
    p = pacer(time, paces={"gmail.com": Pace(10.0, None), "yahoo.com": Pace(2.0, None), DEFAULT: Pace()})
    rec = Recorder(time, p)
    rec.release.set()
    addresses = [f"g{i}@gmail.com" for i in range(5)] + [f"y{i}@yahoo.com" for i in range(3)] + ["a@shop.example"]
    for address in addresses:
        await p.run(address, lambda address=address: rec.send(address))
    times = {a: t for a, t in rec.sent}
    gmail = [times[f"g{i}@gmail.com"] for i in range(5)]
    yahoo = [times[f"y{i}@yahoo.com"] for i in range(3)]
    assert [b - a for a, b in zip(gmail, gmail[1:], strict=False)] == [100.0] * 4  # 10/s: one every 100 ms
    assert all(b - a >= 500.0 for a, b in zip(yahoo, yahoo[1:], strict=False))  # 2/s
    assert p.lane("a@shop.example").pace == Pace()  # the default: no limit of its own


async def test_each_lane_keeps_its_concurrency():
    time = FakeTime()
    p = pacer(time, paces={"outlook.com": Pace(None, 2), DEFAULT: Pace(None, None)})
    rec = Recorder(time, p)
    tasks = [asyncio.create_task(p.run(a, lambda a=a: rec.send(a)))
             for a in [f"o{i}@hotmail.com" for i in range(6)] + [f"x{i}@shop.example" for i in range(6)]]
    for _ in range(10):
        await asyncio.sleep(0)
    assert sum(1 for a, _t in rec.sent if a.endswith("hotmail.com")) == 2  # the rest wait their turn
    assert sum(1 for a, _t in rec.sent if a.endswith("shop.example")) == 6
    rec.release.set()
    await asyncio.gather(*tasks)
    assert rec.peak == {"outlook.com": 2, "shop.example": 6}
    assert len(rec.sent) == 12


async def test_a_slot_beyond_the_horizon_is_deferred_not_waited_for():
    time = FakeTime()
    p = pacer(time, paces={"gmail.com": Pace(1.0, None)}, horizon_seconds=3)
    results = [p.reserve(f"g{i}@gmail.com") for i in range(6)]
    waits = [r[1] for r in results if not isinstance(r, Deferred)]
    deferred = [r for r in results if isinstance(r, Deferred)]
    assert waits == [0.0, 1000.0, 2000.0, 3000.0]
    assert len(deferred) == 2 and deferred[0].until_ms == time.now + 4000
    assert "1 messages a second" in deferred[0].reason


async def test_the_warm_up_ramp_grows_day_by_day_and_defers_the_rest_to_tomorrow():
    time = FakeTime()
    ramp = WarmUp(first_day=3, growth=2.0, ceiling=20, start=dt.date(2026, 12, 1))
    p = pacer(time, paces={DEFAULT: Pace()}, warmup=ramp)
    sent_per_day = []
    for day in range(5):
        time.day = dt.date(2026, 12, 1) + dt.timedelta(days=day)
        sent = 0
        for i in range(30):
            outcome = await p.run(f"r{day}.{i}@gmail.com", lambda: asyncio.sleep(0, "250"))
            if isinstance(outcome, Deferred):
                midnight = dt.datetime.combine(time.day + dt.timedelta(days=1), dt.time())
                assert outcome.until_ms == int(midnight.timestamp() * 1000)
                assert "warm-up allows" in outcome.reason
            else:
                sent += 1
        sent_per_day.append(sent)
    assert sent_per_day == [3, 6, 12, 30, 30]  # 3, 6, 12, then 24 would reach the ceiling: no limit


async def test_the_warm_up_counts_what_the_provider_took_and_what_was_sent_before_a_restart():
    time = FakeTime()
    p = pacer(time, paces={DEFAULT: Pace()}, warmup=WarmUp(first_day=5))
    p.seed({"gmail.com": 3, "googlemail.com": 1}, first_day=time.day)
    refused = await p.run("a@gmail.com", lambda: asyncio.sleep(0, "421"), accepted=lambda o: o == "250")
    assert refused == "421"
    assert p.lane("a@gmail.com").sent_today == 4
    assert await p.run("b@gmail.com", lambda: asyncio.sleep(0, "250"), accepted=lambda o: o == "250") == "250"
    assert isinstance(p.reserve("c@gmail.com"), Deferred)
    assert p.as_json()["lanes"]["gmail.com"]["sent_today"] == 5


def test_settings_from_the_command_line():
    assert parse_pace("gmail.com=20/s,8") == ("gmail.com", Pace(20.0, 8))
    assert parse_pace("Hotmail.com=2/s") == ("outlook.com", Pace(2.0, None))
    assert parse_pace("default=,10") == (DEFAULT, Pace(None, 10))
    assert parse_warmup("50,1.5,20000") == WarmUp(50, 1.5, 20000)
    for bad in ("gmail.com", "=3/s", "gmail.com=fast", "gmail.com=-1/s", "gmail.com=1/s,0"):
        with pytest.raises(PacingError):
            parse_pace(bad)
    for bad in ("", "0", "50,0.5", "50,1.5,10", "a,b"):
        with pytest.raises(PacingError):
            parse_warmup(bad)
