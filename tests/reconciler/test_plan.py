"""The reconciler's pure decisions: what a deployment needs, and capacity already promised."""

from __future__ import annotations

import numpy as np

from controlplane.reconciler.accounting import Bound, charge
from controlplane.reconciler.plan import MoveRequest, ReplicaView, plan_deployment, replan_view
from controlplane.resources.wellknown import ReplicaPhase
from tests.scheduler.fleets import FakeNode, snapshot_of


def view(
    name: str, phase: ReplicaPhase = ReplicaPhase.RUNNING, ready: bool = True, replaces: str = ""
) -> ReplicaView:
    return ReplicaView(name, f"node-of-{name}", phase, ready, replaces)


def test_scale_up_and_down() -> None:
    assert plan_deployment(3, [view("a")]).to_place == 2
    down = plan_deployment(1, [view("a"), view("b"), view("c")])
    assert down.to_place == 0 and down.excess == 2


def test_lost_and_failed_replicas_are_replaced() -> None:
    plan = plan_deployment(
        2, [view("a", ready=False), view("b", phase=ReplicaPhase.FAILED), view("c")]
    )
    assert set(plan.lost) == {"a", "b"} and plan.to_place == 1


def test_a_move_is_one_slot_until_the_new_replica_runs() -> None:
    starting = plan_deployment(
        2, [view("a"), view("b"), view("b2", ReplicaPhase.STARTING, replaces="b")]
    )
    assert starting.to_place == 0 and starting.excess == 0 and starting.finish_moves == ()
    assert starting.moving == {"b"}
    running = plan_deployment(
        2, [view("a"), view("b"), view("b2", ReplicaPhase.RUNNING, replaces="b")]
    )
    assert running.finish_moves == ("b",) and running.excess == 0


def test_replacement_of_a_lost_replica_becomes_an_ordinary_one() -> None:
    plan = plan_deployment(2, [view("a"), view("b", ready=False), view("b2", replaces="b")])
    assert plan.lost == ("b",) and plan.to_place == 0 and plan.moving == frozenset()


def test_terminating_replicas_hold_no_slot() -> None:
    plan = plan_deployment(2, [view("a"), view("b", phase=ReplicaPhase.TERMINATING)])
    assert plan.to_place == 1


def test_charge_books_gpus_and_pending_power() -> None:
    snap = snapshot_of([FakeNode(f"n{i}", gpus_free={"H100": 8}, it_draw_kw=10) for i in range(3)])
    column, model = 0, "H100"
    charged = charge(
        snap,
        [
            Bound(str(snap.names[1]), ReplicaPhase.SCHEDULED, model, 2, 5.0),
            Bound(str(snap.names[1]), ReplicaPhase.RUNNING, model, 1, 5.0),
            Bound("unknown-node", ReplicaPhase.SCHEDULED, model, 1, 1.0),
        ],
    )
    total = snap.gpus_total[1, column]
    assert charged.gpus_free[1, column] == min(snap.gpus_free[1, column], total - 3)
    assert charged.it_draw_kw[1] == snap.it_draw_kw[1] + 5.0  # the Running one is in telemetry
    np.testing.assert_array_equal(charged.gpus_free[0], snap.gpus_free[0])


def test_a_finished_replacement_is_free_to_move_again() -> None:
    during = plan_deployment(1, [view("b"), view("b2", ReplicaPhase.STARTING, replaces="b")])
    assert during.replacing == {"b2"} and during.moving == {"b"}
    after = plan_deployment(1, [view("b2", replaces="b")])  # the old one has stopped
    assert after.replacing == frozenset() and after.moving == frozenset()
    assert after.to_place == 0 and after.excess == 0


def test_a_replan_counts_the_replicas_on_their_way_where_they_will_serve() -> None:
    views = [
        view("settled"),
        view("old", replaces=""),  # moving out: its replacement stands for it
        view("new", ReplicaPhase.STARTING, replaces="old"),
        view("fresh", ReplicaPhase.SCHEDULED),  # a scale-up, not yet running
        view("queued"),  # a re-plan move asked for, not started (too many in flight)
        view("drained"),  # a drain: the placer will choose where
        view("shed"),  # curtailment with nowhere to go
        view("lost", ready=False),
    ]
    moves = {
        "queued": MoveRequest("better placement", to_node="node-of-dest"),
        "drained": MoveRequest("drain"),
        "shed": MoveRequest("curtailment", stop=True),
    }
    movable, settling = replan_view(views, moves)
    assert [(r.name, r.node) for r in movable] == [("settled", "node-of-settled")]
    assert sorted(settling) == [
        "node-of-dest",
        "node-of-drained",
        "node-of-fresh",
        "node-of-new",
    ]
