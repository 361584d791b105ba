"""The warning lifecycle and its audit trail, on SQLite and on PostgreSQL, with the same migrations."""

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from ioc import lifecycle
from ioc.database import migrate, open_engine, session_factory
from ioc.lifecycle import LifecycleError, take_transition
from ioc.schema import AuditEntry, Transition, WarningRecord
from tests.ioc.conftest import warning_message

T0 = 1_700_000_000_000


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[DbSession]]:
    engine = open_engine(database_url)
    migrate(engine)
    migrate(engine)  # a second start finds the schema current
    yield session_factory(engine)
    engine.dispose()


def trail(db: DbSession, warning_id: int) -> list[tuple[str, str]]:
    query = sa.select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.warning_id == warning_id)
    return [tuple(row) for row in db.execute(query.order_by(AuditEntry.id))]  # type: ignore[misc]


def test_a_warning_lives_from_raised_to_resolved(sessions: sessionmaker[DbSession]) -> None:
    steps = [(1, 0, "raised"), (2, 1, "escalated"), (1, 2, "de_escalated"), (0, 1, "resolved")]
    with sessions.begin() as db:
        assert take_transition(db, warning_message(level=1, previous=0, ts_ms=T0)) == "raised"
        row = db.scalars(sa.select(WarningRecord)).one()
        lifecycle.acknowledge(db, row.id, "lan", "seen, calling the district")
        assert (row.state, row.acknowledged_by) == ("acknowledged", "lan")
    for n, (level, previous, outcome) in enumerate(steps[1:], start=1):
        with sessions.begin() as db:
            assert take_transition(db, warning_message(level=level, previous=previous, ts_ms=T0 + n * 1000)) == outcome
            row = db.scalars(sa.select(WarningRecord)).one()
            if outcome == "escalated":  # a higher level asks for a new acknowledgement
                assert row.acknowledged_by is None
                lifecycle.acknowledge(db, row.id, "minh", "")
    with sessions() as db:
        row = db.scalars(sa.select(WarningRecord)).one()
        assert (row.state, row.active, row.peak_level, row.closed_by) == ("resolved", False, 2, "rules")
        assert trail(db, row.id) == [
            ("rules", "raised"),
            ("lan", "acknowledged"),
            ("rules", "escalated"),
            ("minh", "acknowledged"),
            ("rules", "de_escalated"),
            ("rules", "resolved"),
        ]
        assert db.scalar(sa.select(sa.func.count()).select_from(Transition)) == 4


def test_a_repeated_transition_changes_nothing(sessions: sessionmaker[DbSession]) -> None:
    message = warning_message(level=2, previous=0, ts_ms=T0)
    with sessions.begin() as db:
        assert take_transition(db, message) == "raised"
    for _ in range(3):
        with sessions.begin() as db:
            assert take_transition(db, message) == "repeat"
    with sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(WarningRecord)) == 1
        assert db.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 1


def test_one_active_warning_per_rule_and_station(sessions: sessionmaker[DbSession]) -> None:
    with sessions.begin() as db:
        take_transition(db, warning_message(level=1, ts_ms=T0))
        take_transition(db, warning_message(level=1, ts_ms=T0, rule="other_rule"))
        take_transition(db, warning_message(station="kim_long", level=3, ts_ms=T0))
    with sessions() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(WarningRecord)) == 3
    # The database itself refuses a second active warning of one (rule, station), e.g. from a second instance.
    with pytest.raises(sa.exc.IntegrityError), sessions.begin() as db:
        row = db.scalars(sa.select(WarningRecord).where(WarningRecord.rule == "other_rule")).one()
        db.expunge(row)
        sa.orm.make_transient(row)
        row.id, row.rule = None, "le_thuy_level"  # type: ignore[assignment]
        db.add(row)


def test_the_audit_trail_is_append_only(sessions: sessionmaker[DbSession]) -> None:
    with sessions.begin() as db:
        take_transition(db, warning_message(level=1, ts_ms=T0))
    for statement in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), sessions.begin() as db:
            db.execute(sa.text(statement))
    with sessions() as db:
        assert db.scalars(sa.select(AuditEntry.actor)).all() == ["rules"]


def test_operators_act_only_on_active_warnings(sessions: sessionmaker[DbSession]) -> None:
    with sessions.begin() as db:
        take_transition(db, warning_message(level=1, ts_ms=T0))
        warning_id = db.scalars(sa.select(WarningRecord.id)).one()
        lifecycle.acknowledge(db, warning_id, "lan", "")
        with pytest.raises(LifecycleError, match="already acknowledged by lan"):
            lifecycle.acknowledge(db, warning_id, "minh", "")
        lifecycle.silence(db, warning_id, "lan", "gauge cleaning at the station", 600)
        lifecycle.resolve(db, warning_id, "lan", "river falling, confirmed by phone")
    with sessions.begin() as db:
        for act in (
            lambda: lifecycle.acknowledge(db, warning_id, "lan", ""),
            lambda: lifecycle.silence(db, warning_id, "lan", "x", 60),
            lambda: lifecycle.resolve(db, warning_id, "lan", "x"),
        ):
            with pytest.raises(LifecycleError, match="is resolved, no longer active"):
                act()
        with pytest.raises(LifecycleError, match="no such warning") as refused:
            lifecycle.acknowledge(db, warning_id + 100, "lan", "")
        assert refused.value.missing
        # The rule's all clear after an operator's resolve finds nothing active: recorded, nothing changes.
        assert take_transition(db, warning_message(level=0, previous=1, ts_ms=T0 + 1)) == "clear_without_warning"
        # The next rise opens a new warning.
        assert take_transition(db, warning_message(level=1, previous=0, ts_ms=T0 + 2)) == "raised"
        assert db.scalar(sa.select(sa.func.count()).select_from(WarningRecord)) == 2


def test_sweep_expires_silent_warnings_and_ends_silences(sessions: sessionmaker[DbSession]) -> None:
    with sessions.begin() as db:
        take_transition(db, warning_message(level=1, ts_ms=T0))
        take_transition(db, warning_message(station="kim_long", level=1, ts_ms=T0 + 3600_000))
        # a gateway's backlog: a transition of long ago (event time), taken just now
        take_transition(db, warning_message(station="phu_oc", level=1, ts_ms=T0))
        rows = {row.station: row for row in db.scalars(sa.select(WarningRecord))}
        rows["le_thuy"].news_ms = T0  # as if taken long ago
        rows["kim_long"].news_ms = T0 + 3600_000
        lifecycle.silence(db, rows["kim_long"].id, "lan", "known", 60)
        rows["kim_long"].silenced_until_ms = T0 + 3600_000
    with sessions.begin() as db:
        assert lifecycle.sweep(db, T0 + 2 * 3600_000, expire_after_ms=90 * 60_000) == 2
    with sessions() as db:
        rows = {row.station: row for row in db.scalars(sa.select(WarningRecord))}
        assert (rows["le_thuy"].state, rows["le_thuy"].active) == ("expired", False)
        assert rows["kim_long"].active and rows["kim_long"].silenced_until_ms is None
        assert trail(db, rows["kim_long"].id)[-1] == ("system", "silence_ended")
        assert trail(db, rows["le_thuy"].id)[-1] == ("system", "expired")
        assert rows["phu_oc"].active  # expiry counts from when the news came, not from its event time


def test_an_older_transition_than_the_warning_shows_changes_nothing(sessions: sessionmaker[DbSession]) -> None:
    with sessions.begin() as db:
        take_transition(db, warning_message(level=2, ts_ms=T0 + 5000))
        assert take_transition(db, warning_message(level=1, previous=2, ts_ms=T0)) == "out_of_order"
        row = db.scalars(sa.select(WarningRecord)).one()
        assert (row.level, row.state) == (2, "raised")


# A feed: transitions of a few (rule, station) pairs, each level change as the rules send it,
# delivered at least once: some are repeated, at any later point.
@st.composite
def feeds(draw: st.DrawFn) -> tuple[list[tuple[str, str, int, int, int]], list[int]]:
    keys = draw(
        st.lists(st.sampled_from([("r1", "le_thuy"), ("r2", "le_thuy"), ("r1", "kim_long")]), min_size=1, max_size=30)
    )
    levels: dict[tuple[str, str], int] = {}
    transitions = []
    for n, (rule, station) in enumerate(keys):
        previous = levels.get((rule, station), 0)
        level = draw(st.integers(0, 3).filter(lambda v, p=previous: v != p))
        levels[(rule, station)] = level
        transitions.append((rule, station, previous, level, T0 + n))
    order = list(range(len(transitions)))
    repeats = draw(st.lists(st.integers(0, len(transitions) - 1), max_size=10))
    for index in repeats:
        order.insert(draw(st.integers(order.index(index) + 1, len(order))), index)
    return transitions, order


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(feed=feeds())
def test_repeats_anywhere_in_the_feed_change_nothing(
    sessions: sessionmaker[DbSession], feed: tuple[list[tuple[str, str, int, int, int]], list[int]]
) -> None:
    transitions, order = feed
    # The database outlives the examples (and its trail is append-only): each example its own rules.
    with sessions() as db:
        run = db.scalar(sa.select(sa.func.count()).select_from(Transition)) or 0
    transitions = [(f"{rule}_{run}", station, *rest) for rule, station, *rest in transitions]  # type: ignore[misc]
    messages = [
        warning_message(station, level, previous, ts, rule) for rule, station, previous, level, ts in transitions
    ]
    outcomes = []
    for index in order:
        with sessions.begin() as db:
            outcomes.append(take_transition(db, messages[index]))
    assert outcomes.count("repeat") == len(order) - len(transitions)
    with sessions() as db:
        # what each (rule, station) shows is what its last transition said
        for rule, station in {(r, s) for r, s, *_ in transitions}:
            last = [t for t in transitions if (t[0], t[1]) == (rule, station)][-1]
            active = db.scalars(
                sa.select(WarningRecord).where(
                    WarningRecord.rule == rule, WarningRecord.station == station, WarningRecord.active.is_(True)
                )
            ).all()
            assert len(active) == (1 if last[3] > 0 else 0)
            if active:
                assert active[0].level == last[3]
        # every repeat left no trace in the trail
        entries = db.scalars(
            sa.select(AuditEntry.detail)
            .join(WarningRecord, AuditEntry.warning_id == WarningRecord.id)
            .where(WarningRecord.rule.endswith(f"_{run}"))
        ).all()
        ids = [json.loads(detail)["transition_id"] for detail in entries]
        assert len(ids) == len(set(ids))
