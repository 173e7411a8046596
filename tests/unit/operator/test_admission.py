"""The admission scheduler as pure functions: entries in, decisions out."""

from __future__ import annotations

from logistica_operator.routing_jobs.admission import Decision, Entry, Scheduler, decide, entry_of
from logistica_workers.api import Phase

T0 = "2026-01-01T00:00:0{}Z"


def entries(*rows: tuple[str, int, Phase, bool]) -> dict[tuple[str, str], Entry]:
    return {("ns", name): Entry(T0.format(t), phase, held) for name, t, phase, held in rows}


def test_oldest_first_into_the_free_slots_and_the_rest_queue() -> None:
    got = decide(
        entries(
            ("c", 3, Phase.PENDING, False),
            ("a", 1, Phase.PENDING, False),
            ("b", 2, Phase.PENDING, False),
            ("d", 4, Phase.QUEUED, False),
        ),
        limit=2,
    )
    assert got == Decision(start=[("ns", "a"), ("ns", "b")], queue=[("ns", "c")])


def test_running_ones_take_their_slots_and_a_full_house_starts_nothing() -> None:
    rows = entries(
        ("r1", 1, Phase.RUNNING, False),
        ("r2", 2, Phase.RUNNING, False),
        ("w", 0, Phase.QUEUED, False),
    )
    assert decide(rows, limit=2) == Decision(start=[], queue=[])
    assert decide(rows, limit=3).start == [("ns", "w")]


def test_held_suspended_and_finished_ones_take_no_place() -> None:
    rows = entries(
        ("no-configmap", 0, Phase.PENDING, True),
        ("suspended", 1, Phase.SUSPENDED, True),
        ("done", 2, Phase.SUCCEEDED, False),
        ("failed", 3, Phase.FAILED, False),
        ("next", 4, Phase.PENDING, False),
    )
    assert decide(rows, limit=1) == Decision(start=[("ns", "next")], queue=[])


def test_several_finishing_at_once_free_as_many_slots_in_one_decision() -> None:
    rows = entries(
        *[(f"done{i}", i, Phase.SUCCEEDED, False) for i in range(4)],
        *[(f"w{i}", 5 + i, Phase.QUEUED, False) for i in range(5)],
    )
    assert decide(rows, limit=4).start == [("ns", f"w{i}") for i in range(4)]


def test_a_limit_below_the_running_count_starts_nothing() -> None:
    rows = entries(*[(f"r{i}", i, Phase.RUNNING, False) for i in range(3)])
    rows |= entries(("w", 9, Phase.PENDING, False))
    assert decide(rows, limit=1) == Decision(start=[], queue=[("ns", "w")])


def test_same_creation_second_is_ordered_by_namespace_then_name() -> None:
    rows = {
        ("b", "x"): Entry(T0.format(1), Phase.PENDING),
        ("a", "y"): Entry(T0.format(1), Phase.PENDING),
        ("a", "x"): Entry(T0.format(1), Phase.PENDING),
    }
    assert decide(rows, limit=2).start == [("a", "x"), ("a", "y")]


def test_scheduler_overrides_the_lagging_index_until_it_catches_up() -> None:
    s = Scheduler()
    key = ("ns", "a")
    index = [(key, Entry(T0.format(1), Phase.PENDING))]
    s.note(key, Entry(T0.format(1), Phase.RUNNING, job_name="a-solve-1"))
    assert s.view(index)[key].phase is Phase.RUNNING  # the index has not seen our write
    assert decide(s.view(index), limit=1).start == []  # so the slot is not given twice
    caught_up = [(key, Entry(T0.format(1), Phase.RUNNING, job_name="a-solve-1"))]
    assert s.view(caught_up)[key].job_name == "a-solve-1"
    assert s.noted == {}
    assert s.view(index)[key].phase is Phase.PENDING  # nothing remembered any more


def test_index_entry_from_a_body() -> None:
    meta = {"creationTimestamp": T0.format(1)}
    accepted = {"type": "Accepted", "status": "True"}
    assert entry_of(meta, {}, {}) == Entry(T0.format(1), Phase.PENDING, unseen=True)
    refused = {"conditions": [{"type": "Accepted", "status": "False"}]}
    assert entry_of(meta, {}, refused) == Entry(T0.format(1), Phase.PENDING, held=True)
    running = {"phase": "Running", "jobName": "j", "conditions": [accepted], "result": {"x": 1}}
    assert entry_of(meta, {}, running) == Entry(T0.format(1), Phase.RUNNING, False, "j")
    assert entry_of(meta, {"suspend": True}, {"conditions": [accepted]}).held


def test_scheduler_forgets_a_deleted_routingjob() -> None:
    s = Scheduler()
    key = ("ns", "gone")
    s.note(key, Entry(T0.format(1), Phase.RUNNING, job_name="gone-solve-1"))
    assert s.view([]) == {}
    assert s.noted == {}  # a new RoutingJob of the same name starts from the index alone


def test_an_older_one_not_yet_accepted_keeps_its_place() -> None:
    """Accepted out of order (q2's accept finished first): q2 waits for q1, so oldest first
    holds even then; a refused one (its ConfigMap missing) takes no place."""
    rows = {
        ("ns", "q1"): Entry(T0.format(1), Phase.PENDING, unseen=True),
        ("ns", "q2"): Entry(T0.format(1), Phase.PENDING),
        ("ns", "q3"): Entry(T0.format(2), Phase.PENDING),
    }
    assert decide(rows, limit=1) == Decision(start=[], queue=[("ns", "q2"), ("ns", "q3")])
    rows[("ns", "q1")] = Entry(T0.format(1), Phase.PENDING)
    assert decide(rows, limit=1) == Decision(
        start=[("ns", "q1")], queue=[("ns", "q2"), ("ns", "q3")]
    )
    rows[("ns", "q1")] = Entry(T0.format(1), Phase.PENDING, held=True)
    assert decide(rows, limit=1).start == [("ns", "q2")]
