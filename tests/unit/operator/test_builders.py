"""The desired objects the operator applies: pure functions of the spec and the settings."""

from __future__ import annotations

from typing import Any

import pytest

from logistica_operator.builders import (
    ingest_objects,
    job_name,
    solver_deadline_seconds,
    solver_grace_seconds,
    solver_job,
    solver_rbac,
)
from logistica_operator.config import OperatorConfig
from logistica_workers.api import SOLVER_EXIT_INTERRUPTED, RoutingJobSpec, WebhookSourceSpec

PROBLEM = {
    "origin": {"lat": 52.5, "lng": 13.4},
    "stops": [{"id": "s1", "lat": 52.51, "lng": 13.41, "priority": 1}],
    "couriers": [{"id": "c1", "lat": 52.5, "lng": 13.4, "capacity": 5}],
}


@pytest.fixture
def cfg(monkeypatch: pytest.MonkeyPatch) -> OperatorConfig:
    monkeypatch.setenv("LOGISTICA_IMAGE", "example/logistica:1")
    return OperatorConfig()


def source(replicas: int) -> WebhookSourceSpec:
    return WebhookSourceSpec.model_validate(
        {"provider": "github", "secretRef": {"name": "gh"}, "replicas": replicas}
    )


def test_ingest_objects_are_owned_and_a_pdb_only_above_one_replica(cfg: OperatorConfig) -> None:
    one = ingest_objects("gh", "ns", "uid-1", source(1), cfg)
    assert [o["kind"] for o in one] == ["Deployment", "Service"]
    three = ingest_objects("gh", "ns", "uid-1", source(3), cfg)
    assert [o["kind"] for o in three] == ["Deployment", "Service", "PodDisruptionBudget"]
    for obj in three:
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "WebhookSource",
            "uid-1",
            True,
        )
    deployment = three[0]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "example/logistica:1"
    assert pod["volumes"][0]["secret"] == {"secretName": "gh", "optional": True}
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_a_spec_change_changes_the_pod_template_hash(cfg: OperatorConfig) -> None:
    def template_hash(spec: WebhookSourceSpec) -> Any:
        dep = ingest_objects("gh", "ns", "u", spec, cfg)[0]
        return dep["spec"]["template"]["metadata"]["annotations"]

    assert template_hash(source(1)) != template_hash(source(2))
    assert template_hash(source(1)) == template_hash(source(1))


def routing(**spec: Any) -> RoutingJobSpec:
    return RoutingJobSpec.model_validate({"problem": PROBLEM, **spec})


def test_solver_job_runs_the_routingjob_owned_by_it(cfg: OperatorConfig) -> None:
    job = solver_job("rj", "ns", "uid-2", routing(), 3, cfg)
    assert job["metadata"]["name"] == job_name("rj", 3) == "rj-solve-3"
    assert job["metadata"]["labels"]["logistica.dev/routingjob"] == "rj"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-2"
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["solve", "--routingjob", "ns/rj"]
    assert pod["serviceAccountName"] == cfg.solver_service_account
    assert job["spec"]["backoffLimit"] == 1


def test_an_interrupted_solver_runs_again_without_using_its_retry(cfg: OperatorConfig) -> None:
    """The solver's exit on SIGTERM when not suspended, and a disruption, are ignored by the
    Job's failure count: the Job starts the solve again."""
    job = solver_job("rj", "ns", "uid-2", routing(), 1, cfg)
    rules = job["spec"]["podFailurePolicy"]["rules"]
    container = job["spec"]["template"]["spec"]["containers"][0]["name"]
    on_exit = [r for r in rules if "onExitCodes" in r]
    assert on_exit == [
        {
            "action": "Ignore",
            "onExitCodes": {
                "containerName": container,
                "operator": "In",
                "values": [SOLVER_EXIT_INTERRUPTED],
            },
        }
    ]
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]} in rules
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy needs it


def test_problem_from_a_configmap_is_mounted(cfg: OperatorConfig) -> None:
    spec = RoutingJobSpec.model_validate(
        {"problemFrom": {"configMapKeyRef": {"name": "cm", "key": "p.json"}}}
    )
    job = solver_job("rj", "ns", "u", spec, 1, cfg)
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LOGISTICA_PROBLEM_FILE"].endswith("/p.json")
    assert {"name": "problem", "configMap": {"name": "cm"}} in job["spec"]["template"]["spec"][
        "volumes"
    ]


def test_grace_and_deadline_follow_the_time_limit() -> None:
    assert solver_grace_seconds(routing(options={"timeLimitSeconds": 30})) == 11
    assert solver_grace_seconds(routing(options={"timeLimitSeconds": 3600})) == 60
    assert solver_deadline_seconds(routing(options={"timeLimitSeconds": 10})) == 140
    assert solver_deadline_seconds(routing(activeDeadlineSeconds=77)) == 77


def test_solver_rbac_grants_only_get_and_status_patch(cfg: OperatorConfig) -> None:
    sa, role, binding = solver_rbac("ns", cfg)
    assert sa["kind"] == "ServiceAccount"
    assert role["rules"] == [
        {"apiGroups": ["logistica.dev"], "resources": ["routingjobs"], "verbs": ["get"]},
        {"apiGroups": ["logistica.dev"], "resources": ["routingjobs/status"], "verbs": ["patch"]},
    ]
    assert binding["subjects"][0]["name"] == sa["metadata"]["name"]
