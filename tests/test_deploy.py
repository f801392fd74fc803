"""The deployment files, validated without kubectl or docker: Kubernetes manifests (deploy/k8s/, the refresh CronJob)
against a schema of the fields they use plus their cross-references (labels, volumes, claims, secrets, ports,
services), the fleet compose file and its load balancer, and every PAPERTRANS_* variable against the real Settings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from papertrans.server.engine import EngineSettings
from papertrans.server.engine.inprocess import CONSTRAINT_FQCN
from papertrans.server.engine.remote import VLLM_SERVE_ENV
from papertrans.server.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MANIFESTS = [*sorted((DEPLOY / "k8s").glob("*.yaml")), DEPLOY / "refresh" / "cronjob.yaml"]

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
_META = {"type": "object", "required": ["name"], "properties": {"name": _NAME, "labels": {"type": "object"}}}
_ENV = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}, "valueFrom": {"type": "object"}},
        "oneOf": [{"required": ["value"]}, {"required": ["valueFrom"]}],
    },
}
_CONTAINER = {
    "type": "object",
    "required": ["name", "image"],
    "properties": {
        "name": _NAME,
        "image": {"type": "string"},
        "command": {"type": "array", "items": {"type": "string"}},
        "args": {"type": "array", "items": {"type": "string"}},
        "env": _ENV,
        "ports": {"type": "array", "items": {"type": "object", "required": ["containerPort"]}},
        "volumeMounts": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "mountPath"]},
        },
    },
}
_POD = {
    "type": "object",
    "required": ["containers"],
    "properties": {
        "containers": {"type": "array", "minItems": 1, "items": _CONTAINER},
        "volumes": {"type": "array", "items": {"type": "object", "required": ["name"]}},
    },
}
_TEMPLATE = {"type": "object", "required": ["spec"], "properties": {"spec": _POD}}
_WORKLOAD = {
    "type": "object",
    "required": ["selector", "template"],
    "properties": {
        "replicas": {"type": "integer", "minimum": 1},
        "selector": {"type": "object", "required": ["matchLabels"]},
        "template": {**_TEMPLATE, "required": ["metadata", "spec"]},  # its labels are what the selector matches
    },
}
SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("apps/v1", "Deployment"): _WORKLOAD,
    ("apps/v1", "StatefulSet"): {**_WORKLOAD, "required": ["selector", "template", "serviceName"]},
    ("v1", "Service"): {
        "type": "object",
        "required": ["selector", "ports"],
        "properties": {"ports": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["port"]}}},
    },
    ("v1", "PersistentVolumeClaim"): {"type": "object", "required": ["accessModes", "resources"]},
    ("batch/v1", "CronJob"): {
        "type": "object",
        "required": ["schedule", "jobTemplate"],
        "properties": {
            "schedule": {"type": "string", "pattern": r"^(\S+\s+){4}\S+$"},
            "jobTemplate": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {"template": _TEMPLATE}}},
            },
        },
    },
}


def _docs() -> list[dict[str, Any]]:
    docs = [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(docs) >= 10
    return docs


def _pods(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(owner, pod template) of every workload."""
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            out.append((d, d["spec"]["template"]))
        elif d["kind"] == "CronJob":
            out.append((d, d["spec"]["jobTemplate"]["spec"]["template"]))
    return out


def _of(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a replica with this environment reads it: unknown PAPERTRANS_* names are errors here."""
    fields = {n.upper() for n in Settings.model_fields}
    for name, value in env.items():
        if name.startswith("PAPERTRANS_"):
            top = name.removeprefix("PAPERTRANS_").split("__")[0]
            assert top in fields or name == "PAPERTRANS_SERVER", f"{name} is not a setting"
            monkeypatch.setenv(name, value)
    return Settings()  # type: ignore[call-arg]


def test_manifests_match_their_schema() -> None:
    for d in _docs():
        assert {"apiVersion", "kind", "metadata"} <= set(d), d
        jsonschema.validate(d["metadata"], _META)
        schema = SCHEMAS.get((d["apiVersion"], d["kind"]))
        if d["kind"] == "Secret":
            assert d["apiVersion"] == "v1" and isinstance(d.get("stringData"), dict)
            continue
        assert schema is not None, f"no schema for {d['apiVersion']} {d['kind']}"
        jsonschema.validate(d["spec"], schema)


def test_manifests_reference_what_exists() -> None:
    docs = _docs()
    claims, secrets, services = _of(docs, "PersistentVolumeClaim"), _of(docs, "Secret"), _of(docs, "Service")
    labels = []
    for owner, pod in _pods(docs):
        spec = pod["spec"]
        if owner["kind"] != "CronJob":
            match = owner["spec"]["selector"]["matchLabels"]
            assert match.items() <= pod["metadata"]["labels"].items(), owner["metadata"]["name"]
            labels.append(pod["metadata"]["labels"])
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        templates = {t["metadata"]["name"] for t in owner["spec"].get("volumeClaimTemplates", [])}
        for c in spec["containers"]:
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes or m["name"] in templates, (c["name"], m["name"])
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"], ref
        for v in volumes.values():
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in claims, v
    for name, svc in services.items():
        assert any(svc["spec"]["selector"].items() <= lab.items() for lab in labels), f"service {name} selects nothing"


def test_vllm_deployment_serves_what_papertrans_needs() -> None:
    docs = _docs()
    vllm = _of(docs, "Deployment")["vllm"]["spec"]["template"]["spec"]["containers"][0]
    args = vllm["args"]
    assert "--enable-lora" in args
    assert f"--logits-processors={CONSTRAINT_FQCN}" in args  # the placeholder constraint, by the name vLLM loads
    assert f"--max-lora-rank={EngineSettings().max_lora_rank}" in args  # what the registry lets through
    assert VLLM_SERVE_ENV.items() <= _env(vllm).items()  # runtime LoRA, enough stop strings
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] >= 1
    mounts = {m["name"]: m["mountPath"] for m in vllm["volumeMounts"]}
    app = _of(docs, "Deployment")["papertrans"]["spec"]["template"]["spec"]["containers"][0]
    app_mounts = {m["name"]: m["mountPath"] for m in app["volumeMounts"]}
    # adapters are loaded by path: the same path on both sides; the model folder too (tokenizer and template)
    assert mounts["adapters"] == app_mounts["adapters"] == _env(app)["PAPERTRANS_ADAPTERS_DIR"]
    assert mounts["models"] == app_mounts["models"]
    assert any(a == f"--model={_env(app)['PAPERTRANS_MODEL']}" for a in args)


def test_papertrans_deployment_is_a_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _docs()
    services = _of(docs, "Service")
    dep = _of(docs, "Deployment")["papertrans"]
    assert dep["spec"]["replicas"] >= 2
    settings = _settings_from(_env(dep["spec"]["template"]["spec"]["containers"][0]), monkeypatch)
    assert settings.engine.urls and all(urlparse(u).hostname in services for u in settings.engine.urls)
    assert settings.shared_adapters and settings.shared_jobs  # registry and jobs in the store
    cron = _of(docs, "CronJob")["papertrans-refresh"]
    server = _env(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])["PAPERTRANS_SERVER"]
    assert urlparse(server).hostname in services


def test_fleet_compose_and_load_balancer(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.fleet.yaml").read_text())
    services = compose["services"]
    assert {"db", "vllm", "papertrans-a", "papertrans-b", "lb"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        deps = svc.get("depends_on", [])
        assert set(deps) <= set(services), (name, deps)
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            assert source.startswith(".") or source in compose["volumes"], (name, vol)
    command = services["vllm"]["command"]
    assert "--enable-lora" in command and f"--logits-processors={CONSTRAINT_FQCN}" in command
    assert VLLM_SERVE_ENV.items() <= services["vllm"]["environment"].items()
    for replica in ("papertrans-a", "papertrans-b"):
        env = {k: str(v) for k, v in services[replica]["environment"].items()}
        env["PAPERTRANS_ADMIN_KEY"] = "k"  # compose interpolates ${...} from the host
        settings = _settings_from(env, monkeypatch)
        assert [urlparse(u).hostname for u in settings.engine.urls] == ["vllm"]
        assert settings.store.url and settings.store.url.startswith("postgresql+asyncpg://")
        assert settings.shared_adapters and settings.shared_jobs
    conf = (DEPLOY / services["lb"]["volumes"][0].split(":")[0]).read_text()
    upstreams = re.findall(r"^\s*server\s+([\w-]+):8000", conf, re.MULTILINE)
    assert sorted(upstreams) == ["papertrans-a", "papertrans-b"]
    json.loads(services["papertrans-a"]["environment"]["PAPERTRANS_ENGINE__URLS"])
