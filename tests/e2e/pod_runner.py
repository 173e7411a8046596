"""A test-only stand-in for the kubelet and the Deployment/Job controllers.

It polls the Deployments and Jobs that the operator creates in one namespace and runs their
containers' commands as local processes (`python -m logistica_workers ARGS`) with the pod's
environment: `value`s, `secretKeyRef`s and `configMapKeyRef`s resolved; Secret and ConfigMap
volumes materialised into temp dirs (Secrets refreshed with the kubelet's atomic `..data`
swap); container paths in env values translated to those dirs; `--port` mapped to a free
loopback port. It reports status back as the controllers would: Deployment replicas/ready/
Available, Job Complete/Failed/Suspended. Jobs run under their ServiceAccount's token, so the
solver's RBAC is exercised for real. With ``fake_ready`` it starts nothing and marks every
Deployment ready (for the operator benchmark).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from logistica_workers.db.embedded import free_port

MANAGED = "app.kubernetes.io/managed-by=logistica-operator"
MANAGED_OR_HELM = "app.kubernetes.io/managed-by in (logistica-operator,Helm)"


@dataclass
class Pod:
    proc: subprocess.Popen[bytes]
    port: int | None
    root: Path
    log: Path
    secret_versions: dict[str, str] = field(default_factory=dict)
    ready: bool = False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class PodRunner:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        workdir: Path,
        server: str,
        ca_file: str,
        fake_ready: bool = False,
        interval: float = 0.2,
        selector: str = MANAGED,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.namespace = namespace
        self.workdir = workdir
        self.server = server
        self.ca_file = ca_file
        self.fake_ready = fake_ready
        self.interval = interval
        self.selector = selector
        self.deployments: dict[str, tuple[str, list[Pod]]] = {}  # name -> (template hash, pods)
        self.jobs: dict[str, Pod | None] = {}  # name -> running pod (None once finished)
        self.exit_codes: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pod-runner")
        self.errors: list[str] = []

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        for _, pods in self.deployments.values():
            for pod in pods:
                self._terminate(pod, 15)
        for pod in self.jobs.values():
            if pod:
                self._terminate(pod, 15)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync_deployments()
                self._sync_jobs()
            except Exception as exc:  # keep running; tests see the errors
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.interval)

    # --- pods ----------------------------------------------------------------------------

    def _env_and_files(
        self, pod_spec: dict[str, Any], container: dict[str, Any], root: Path
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The container's env, and a map container path -> local dir for its volumes."""
        volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
        paths: dict[str, str] = {}
        versions: dict[str, str] = {}
        for mount in container.get("volumeMounts") or []:
            vol = volumes[mount["name"]]
            local = root / mount["name"]
            if "secret" in vol:
                versions[mount["name"]] = self._project_secret(vol["secret"]["secretName"], local)
            elif "configMap" in vol:
                cm = self.core.read_namespaced_config_map(vol["configMap"]["name"], self.namespace)
                local.mkdir(parents=True, exist_ok=True)
                for k, v in (cm.data or {}).items():
                    (local / k).write_text(v)
            else:
                local.mkdir(parents=True, exist_ok=True)
            paths[mount["mountPath"]] = str(local)
        env: dict[str, str] = {}
        for item in container.get("env") or []:
            if "value" in item:
                value = item["value"]
            else:
                ref = item["valueFrom"]
                optional = False
                try:
                    if "secretKeyRef" in ref:
                        r = ref["secretKeyRef"]
                        optional = bool(r.get("optional"))
                        data = self.core.read_namespaced_secret(r["name"], self.namespace).data
                        value = base64.b64decode(data[r["key"]]).decode()
                    else:
                        r = ref["configMapKeyRef"]
                        optional = bool(r.get("optional"))
                        value = self.core.read_namespaced_config_map(
                            r["name"], self.namespace
                        ).data[r["key"]]
                except (client.ApiException, KeyError, TypeError):
                    if optional:
                        continue
                    raise
            for container_path, local in paths.items():
                value = value.replace(container_path, local)
            env[item["name"]] = value
        return env, versions

    def _project_secret(self, name: str, target: Path) -> str:
        """Write the Secret like the kubelet: files behind an atomically swapped ..data link."""
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
            data = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
            version = secret.metadata.resource_version
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            data, version = {}, "missing"
        target.mkdir(parents=True, exist_ok=True)
        stamp = target / f"..{version}_{time.monotonic_ns()}"
        stamp.mkdir()
        for k, v in data.items():
            (stamp / k).write_bytes(v)
        tmp = target / "..data_tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(stamp.name)
        old = os.readlink(target / "..data") if (target / "..data").is_symlink() else None
        tmp.replace(target / "..data")
        for k in data:
            link = target / k
            if not link.is_symlink():
                link.symlink_to(f"..data/{k}")
        for entry in target.iterdir():
            if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in data:
                entry.unlink()
        if old:
            shutil.rmtree(target / old, ignore_errors=True)
        return str(version)

    def _spawn(self, pod_spec: dict[str, Any], name: str, extra_env: dict[str, str]) -> Pod:
        container = pod_spec["containers"][0]
        root = self.workdir / f"{name}-{time.monotonic_ns()}"
        root.mkdir(parents=True)
        env, versions = self._env_and_files(pod_spec, container, root)
        args = list(container.get("args") or [])
        port = None
        if "--port" in args:
            port = free_port()
            args[args.index("--port") + 1] = str(port)
        # other container ports named in env (e.g. a health port) move to free ports too
        for p in container.get("ports") or []:
            for k, v in env.items():
                if v == str(p["containerPort"]) and k.endswith("_PORT"):
                    env[k] = str(free_port())
        env_full = {**os.environ, **env, "LOGISTICA_HOST": "127.0.0.1"}
        env_full.pop("KUBECONFIG", None)
        if pod_spec.get("automountServiceAccountToken", True) is not False:
            kubeconfig = root / "kubeconfig"
            self._token_kubeconfig(pod_spec.get("serviceAccountName", "default"), kubeconfig)
            env_full["KUBECONFIG"] = str(kubeconfig)
        env_full.update(extra_env)
        log = root / "pod.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "logistica_workers",
                    *args,
                    *(["--host", "127.0.0.1"] if port else []),
                ],
                env=env_full,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return Pod(proc, port, root, log, versions)

    def _terminate(self, pod: Pod, grace: float) -> int | None:
        if pod.proc.poll() is None:
            pod.proc.send_signal(signal.SIGTERM)
            try:
                pod.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pod.proc.kill()
                pod.proc.wait()
        return pod.proc.returncode

    # --- Deployments ---------------------------------------------------------------------

    def _sync_deployments(self) -> None:
        items = self.apps.list_namespaced_deployment(
            self.namespace, label_selector=self.selector
        ).items
        seen = set()
        for d in items:
            raw = client.ApiClient().sanitize_for_serialization(d)
            name = raw["metadata"]["name"]
            seen.add(name)
            template = raw["spec"]["template"]
            digest = json.dumps(template, sort_keys=True) + f"|{raw['spec'].get('replicas', 1)}"
            current = self.deployments.get(name)
            if self.fake_ready:
                pods: list[Pod] = []
            elif current is None or current[0] != digest:
                if current:  # rollout: replace every pod
                    for pod in current[1]:
                        self._terminate(
                            pod, template["spec"].get("terminationGracePeriodSeconds", 30)
                        )
                pods = [
                    self._spawn(template["spec"], f"{name}-{i}", {})
                    for i in range(raw["spec"].get("replicas", 1))
                ]
            else:
                pods = current[1]
                for pod in pods:
                    self._refresh_secrets(template["spec"], pod)
            self.deployments[name] = (digest, pods)
            for pod in pods:
                pod.ready = pod.proc.poll() is None and self._probe(pod)
            replicas = raw["spec"].get("replicas", 1)
            ready = replicas if self.fake_ready else sum(p.ready for p in pods)
            status = raw.get("status") or {}
            if (status.get("readyReplicas") or 0) != ready or status.get(
                "observedGeneration"
            ) != raw["metadata"]["generation"]:
                self.apps.patch_namespaced_deployment_status(
                    name,
                    self.namespace,
                    {
                        "status": {
                            "observedGeneration": raw["metadata"]["generation"],
                            "replicas": replicas,
                            "updatedReplicas": replicas,
                            "readyReplicas": ready,
                            "availableReplicas": ready,
                            "conditions": [
                                {
                                    "type": "Available",
                                    "status": "True" if ready else "False",
                                    "reason": "PodRunner",
                                    "lastUpdateTime": _now(),
                                    "lastTransitionTime": _now(),
                                }
                            ],
                        }
                    },
                )
        for name in set(self.deployments) - seen:
            for pod in self.deployments.pop(name)[1]:
                self._terminate(pod, 30)

    def _refresh_secrets(self, pod_spec: dict[str, Any], pod: Pod) -> None:
        volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
        for vol_name, version in pod.secret_versions.items():
            secret_name = volumes[vol_name]["secret"]["secretName"]
            try:
                now = self.core.read_namespaced_secret(secret_name, self.namespace)
                latest = now.metadata.resource_version
            except client.ApiException:
                latest = "missing"
            if latest != version:
                pod.secret_versions[vol_name] = self._project_secret(
                    secret_name, pod.root / vol_name
                )

    def _probe(self, pod: Pod) -> bool:
        if pod.port is None:
            return True
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{pod.port}/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def url(self, deployment: str) -> str | None:
        """The first ready pod of a Deployment (what its Service would route to)."""
        entry = self.deployments.get(deployment)
        for pod in entry[1] if entry else []:
            if pod.ready:
                return f"http://127.0.0.1:{pod.port}"
        return None

    def pod_logs(self) -> str:
        out = []
        for name, (_, pods) in self.deployments.items():
            out += [f"--- {name}\n{p.log.read_text(errors='replace')[-4000:]}" for p in pods]
        return "\n".join(out)

    # --- Jobs ----------------------------------------------------------------------------

    def _token_kubeconfig(self, service_account: str, path: Path) -> None:
        token = self.core.create_namespaced_service_account_token(
            service_account, self.namespace, {"spec": {"audiences": [], "expirationSeconds": 3600}}
        ).status.token
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "c",
                            "cluster": {
                                "server": self.server,
                                "certificate-authority": self.ca_file,
                            },
                        }
                    ],
                    "users": [{"name": service_account, "user": {"token": token}}],
                    "contexts": [
                        {
                            "name": "c",
                            "context": {
                                "cluster": "c",
                                "user": service_account,
                                "namespace": self.namespace,
                            },
                        }
                    ],
                    "current-context": "c",
                }
            )
        )

    def _sync_jobs(self) -> None:
        items = self.batch.list_namespaced_job(self.namespace, label_selector=self.selector).items
        for j in items:
            raw = client.ApiClient().sanitize_for_serialization(j)
            name = raw["metadata"]["name"]
            status = raw.get("status") or {}
            finished = any(
                c["type"] in ("Complete", "Failed") and c["status"] == "True"
                for c in status.get("conditions") or []
            )
            if finished:
                continue
            suspended = bool(raw["spec"].get("suspend"))
            pod = self.jobs.get(name)
            template = raw["spec"]["template"]["spec"]
            if name not in self.jobs and not suspended:
                self.jobs[name] = self._spawn(template, name, {})
                self.batch.patch_namespaced_job_status(
                    name, self.namespace, {"status": {"startTime": _now(), "active": 1}}
                )
                continue
            if pod is None:
                continue
            if suspended:  # the job controller deletes the pod: SIGTERM within its grace
                code = self._terminate(pod, template.get("terminationGracePeriodSeconds", 30))
                self.exit_codes[name] = code if code is not None else -1
                self.jobs[name] = None
                self.batch.patch_namespaced_job_status(
                    name,
                    self.namespace,
                    {
                        "status": {
                            "active": 0,
                            "conditions": [
                                {
                                    "type": "Suspended",
                                    "status": "True",
                                    "reason": "JobSuspended",
                                    "lastTransitionTime": _now(),
                                }
                            ],
                        }
                    },
                )
                continue
            code = pod.proc.poll()
            if code is None:
                continue
            self.exit_codes[name] = code
            self.jobs[name] = None
            t = _now()
            if code == 0:
                conds = [
                    {
                        "type": "SuccessCriteriaMet",
                        "status": "True",
                        "reason": "CompletionsReached",
                        "lastTransitionTime": t,
                    },
                    {
                        "type": "Complete",
                        "status": "True",
                        "reason": "CompletionsReached",
                        "lastTransitionTime": t,
                    },
                ]
                body = {
                    "active": 0,
                    "succeeded": 1,
                    "ready": 0,
                    "completionTime": t,
                    "conditions": conds,
                }
            else:
                conds = [
                    {
                        "type": "FailureTarget",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "lastTransitionTime": t,
                    },
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "lastTransitionTime": t,
                    },
                ]
                body = {"active": 0, "failed": 1, "ready": 0, "conditions": conds}
            self.batch.patch_namespaced_job_status(name, self.namespace, {"status": body})
