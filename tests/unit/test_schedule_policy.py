"""Schedule policies on a virtual clock: overlap, catch-up after a gap, DST, end and count."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import attrs

from chiffon.schedule_policy import SkipReason, Tick, plan_tick
from chiffon.schedules import CatchUp, Overlap, Schedule, ScheduledWork, Timing

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def every_minute(**kw: object) -> Schedule:
    timing = Timing(cron=None, timezone="UTC", interval_s=60.0, anchor=T0)
    return Schedule(
        schedule_id=UUID(int=1),
        timing=timing,
        work=ScheduledWork(work_type="echo"),
        created_at=T0,
        updated_at=T0,
        next_fire_at=T0 + MINUTE,
        **kw,  # type: ignore[arg-type]
    )


def daily_paris(at: str) -> Schedule:
    minute, hour = at.split(":")[1], at.split(":")[0]
    timing = Timing(
        cron=f"{minute} {hour} * * *", timezone="Europe/Paris", interval_s=None, anchor=T0
    )
    first = timing.next_after(T0)
    return attrs.evolve(every_minute(), timing=timing, next_fire_at=first)


class VirtualScheduler:
    """Ticks a schedule as the loop does, with a clock and a 'previous run' flag tests set."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.now = T0
        self.running = False
        self.fired: list[datetime] = []
        self.skipped: list[tuple[datetime, SkipReason]] = []

    def tick_at(self, now: datetime) -> Tick:
        self.now = now
        tick = plan_tick(self.schedule, now, self.running)
        self.schedule = tick.schedule
        self.fired.extend(tick.fires)
        self.skipped.extend(tick.skipped)
        self.running = self.running or bool(tick.fires)
        return tick

    def run_for(self, minutes: int, step: timedelta = timedelta(seconds=1)) -> None:
        end = self.now + timedelta(minutes=minutes)
        while self.now < end:
            self.tick_at(self.now + step)


def test_fires_each_time_once_on_a_ticking_clock() -> None:
    sim = VirtualScheduler(every_minute(overlap=Overlap.ALLOW_ALL))
    sim.run_for(5)
    assert sim.fired == [T0 + MINUTE * k for k in range(1, 6)]
    assert sim.schedule.runs == 5
    assert sim.schedule.next_fire_at == T0 + MINUTE * 6


def test_overlap_skip_starts_nothing_while_the_previous_run_lasts() -> None:
    sim = VirtualScheduler(every_minute())
    sim.run_for(3)
    assert sim.fired == [T0 + MINUTE]
    assert sim.skipped == [
        (T0 + MINUTE * 2, SkipReason.OVERLAP),
        (T0 + MINUTE * 3, SkipReason.OVERLAP),
    ]
    sim.running = False
    sim.run_for(1)
    assert sim.fired[-1] == T0 + MINUTE * 4


def test_buffer_one_keeps_one_fire_for_when_the_previous_run_ends() -> None:
    sim = VirtualScheduler(every_minute(overlap=Overlap.BUFFER_ONE))
    sim.run_for(3)
    assert sim.fired == [T0 + MINUTE]
    assert sim.schedule.buffered_at == T0 + MINUTE * 2
    assert sim.skipped == [(T0 + MINUTE * 3, SkipReason.OVERLAP)]
    sim.running = False
    tick = sim.tick_at(sim.now + timedelta(seconds=1))
    assert tick.fires == (T0 + MINUTE * 2,)  # the buffered one, at its own scheduled time
    assert sim.schedule.buffered_at is None


def test_cancel_previous_cancels_the_running_one_and_starts_the_new_one() -> None:
    sim = VirtualScheduler(every_minute(overlap=Overlap.CANCEL_PREVIOUS))
    first = sim.tick_at(T0 + MINUTE)
    assert first.fires == (T0 + MINUTE,) and not first.cancel_previous
    second = sim.tick_at(T0 + MINUTE * 2)
    assert second.fires == (T0 + MINUTE * 2,) and second.cancel_previous


def test_allow_all_starts_every_fire() -> None:
    sim = VirtualScheduler(every_minute(overlap=Overlap.ALLOW_ALL))
    sim.run_for(3)
    assert len(sim.fired) == 3 and sim.skipped == []


def test_skip_missed_after_a_gap_resumes_at_the_next_time() -> None:
    sim = VirtualScheduler(every_minute(overlap=Overlap.ALLOW_ALL))
    tick = sim.tick_at(T0 + timedelta(hours=2, seconds=30))  # down for two hours
    assert tick.fires == (T0 + timedelta(hours=2),)  # within the grace, not missed
    assert len(tick.skipped) == 119
    assert {reason for _, reason in tick.skipped} == {SkipReason.MISSED}
    assert sim.schedule.next_fire_at == T0 + timedelta(hours=2, minutes=1)


def test_run_once_after_a_gap_runs_one_for_all_missed() -> None:
    sim = VirtualScheduler(every_minute(catch_up=CatchUp.RUN_ONCE))
    tick = sim.tick_at(T0 + timedelta(hours=1, minutes=30, seconds=5))
    assert tick.fires == (T0 + timedelta(hours=1, minutes=30),)
    assert len(tick.skipped) == 89


def test_run_all_runs_each_missed_within_its_window() -> None:
    sim = VirtualScheduler(
        every_minute(catch_up=CatchUp.RUN_ALL, catch_up_window_s=600, overlap=Overlap.ALLOW_ALL)
    )
    now = T0 + timedelta(hours=1)
    tick = sim.tick_at(now)
    assert tick.fires == tuple(now - MINUTE * k for k in range(10, -1, -1))
    assert len(tick.skipped) == 49


def test_run_all_with_overlap_skip_runs_only_the_first() -> None:
    sim = VirtualScheduler(every_minute(catch_up=CatchUp.RUN_ALL, catch_up_window_s=600))
    tick = sim.tick_at(T0 + timedelta(minutes=5))
    assert tick.fires == (T0 + MINUTE,)
    assert [r for _, r in tick.skipped] == [SkipReason.OVERLAP] * 4


def test_a_daily_schedule_across_spring_forward_fires_once_a_day() -> None:
    sim = VirtualScheduler(daily_paris("02:30"))
    sim.schedule = attrs.evolve(sim.schedule, overlap=Overlap.ALLOW_ALL)
    sim.now = datetime(2026, 3, 27, tzinfo=UTC)
    sim.schedule = attrs.evolve(sim.schedule, next_fire_at=sim.schedule.timing.next_after(sim.now))
    sim.run_for(4 * 24 * 60, step=MINUTE)
    assert [f.isoformat() for f in sim.fired] == [
        "2026-03-27T01:30:00+00:00",  # 02:30 CET
        "2026-03-28T01:30:00+00:00",
        "2026-03-29T01:00:00+00:00",  # 02:30 does not exist: 03:00 CEST, the gap's end
        "2026-03-30T00:30:00+00:00",  # 02:30 CEST
    ]


def test_a_daily_schedule_across_fall_back_fires_once_that_day() -> None:
    sim = VirtualScheduler(daily_paris("02:30"))
    sim.schedule = attrs.evolve(sim.schedule, overlap=Overlap.ALLOW_ALL)
    sim.now = datetime(2026, 10, 24, 12, tzinfo=UTC)
    sim.schedule = attrs.evolve(sim.schedule, next_fire_at=sim.schedule.timing.next_after(sim.now))
    sim.run_for(2 * 24 * 60, step=MINUTE)
    assert [f.isoformat() for f in sim.fired] == [
        "2026-10-25T00:30:00+00:00",  # the first 02:30 (CEST); the second one is not a new day
        "2026-10-26T01:30:00+00:00",
    ]


def test_end_time_stops_the_schedule() -> None:
    sim = VirtualScheduler(every_minute(overlap=Overlap.ALLOW_ALL, end_at=T0 + MINUTE * 3))
    sim.run_for(10)
    assert sim.fired == [T0 + MINUTE, T0 + MINUTE * 2, T0 + MINUTE * 3]
    assert sim.schedule.over


def test_run_count_stops_the_schedule() -> None:
    sim = VirtualScheduler(every_minute(overlap=Overlap.ALLOW_ALL, max_runs=2))
    sim.run_for(10)
    assert sim.fired == [T0 + MINUTE, T0 + MINUTE * 2]
    assert sim.schedule.over and sim.schedule.runs == 2


def test_a_paused_schedule_does_not_change() -> None:
    paused = every_minute(paused=True)
    tick = plan_tick(paused, T0 + timedelta(hours=1), previous_running=False)
    assert tick.fires == () and tick.schedule == paused


def test_interval_times_are_counted_from_the_anchor() -> None:
    timing = Timing(cron=None, timezone="UTC", interval_s=90.0, anchor=T0)
    assert timing.upcoming(T0 + timedelta(seconds=100), 2) == [
        T0 + timedelta(seconds=180),
        T0 + timedelta(seconds=270),
    ]


def test_timing_problems_name_the_field() -> None:
    both = Timing(cron="* * * * *", timezone="UTC", interval_s=5.0, anchor=T0)
    assert "cron" in both.problems()
    bad_zone = Timing(cron="* * * * *", timezone="Mars/Olympus", interval_s=None, anchor=T0)
    assert list(bad_zone.problems()) == ["timezone"]
    never = Timing(cron="0 0 31 2 *", timezone="UTC", interval_s=None, anchor=T0)
    assert never.problems() == {"cron": ["day of month: '31' never comes in month '2'"]}
    tiny = Timing(cron=None, timezone="UTC", interval_s=0.1, anchor=T0)
    assert list(tiny.problems()) == ["interval_s"]


def test_resume_continues_from_the_next_time_without_catching_up() -> None:
    paused = every_minute(paused=True)
    later = T0 + timedelta(hours=3, seconds=10)
    resumed = paused.resumed(later)
    assert not resumed.paused and resumed.next_fire_at == T0 + timedelta(hours=3, minutes=1)
    assert plan_tick(resumed, later, previous_running=False).skipped == ()
