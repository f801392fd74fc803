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


# -- the nightly job: what operators run is what readers get ------------------------------------------------------
def _papertrans_argv(words: list[str]) -> list[str]:
    """The arguments after the ``papertrans`` executable (a path ending in ``papertrans``) in a command line."""
    at = next(i for i, w in enumerate(words) if w.rsplit("/", 1)[-1] == "papertrans")
    return words[at + 1 :]


def refresh_commands() -> dict[str, tuple[list[str], dict[str, str]]]:
    """Every shipped nightly job's ``papertrans`` arguments, as written, and the environment the file gives it."""
    import shlex

    service = (DEPLOY / "refresh" / "papertrans-refresh.service").read_text()
    exec_start = next(line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart="))
    cron = next(line for line in (DEPLOY / "refresh" / "crontab.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    # a shell line: `. env && cd dir && .../papertrans refresh ... >> log 2>&1` after the five schedule fields
    cron_command = next(part for part in " ".join(cron.split()[5:]).split("&&") if "papertrans refresh" in part)
    job = _of(_docs(), "CronJob")["papertrans-refresh"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = job["containers"][0]
    commands = {
        "systemd": (_papertrans_argv(shlex.split(exec_start)), {}),  # EnvironmentFile: the operator's server and key
        "cron": (_papertrans_argv(shlex.split(cron_command.split(">>")[0])), {}),
        "cronjob": (_papertrans_argv([*container["command"], *container.get("args", [])]), _env(container)),
    }
    for name in ("compose.yaml", "compose.fleet.yaml"):
        service_def = yaml.safe_load((DEPLOY / name).read_text())["services"]["refresh"]
        env = {k: str(v) for k, v in service_def.get("environment", {}).items()}
        commands[name] = (_papertrans_argv(service_def["command"]), env)
    return commands


def _as_run_here(argv: list[str], root: Path, url: str) -> list[str]:
    """The command line with its absolute paths under ``root`` and its server URL pointing at the test's server."""
    out = []
    for word in argv:
        if word.startswith("/"):
            word = str(root / word.lstrip("/"))
        elif word.startswith("http://"):
            word = url
        out.append(word)
    return out


def test_every_nightly_job_refines_and_publishes_the_adapter_readers_are_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each deploy's command line, parsed by the real CLI against a server with the default settings: the night
    refines the server's default adapter (the starter) from its active version, in the server's own adapter store,
    and publishes under that name."""
    from papertrans.cli import build_parser
    from papertrans.clients import Client
    from papertrans.contract import STARTER_NAME, regression_set
    from papertrans.rl import refresh as refresh_mod
    from papertrans.rl.cli import refresh_options
    from tests._night import ADMIN_KEY, LearningFake, fake_server

    commands = refresh_commands()
    assert set(commands) == {"systemd", "cron", "cronjob", "compose.yaml", "compose.fleet.yaml"}
    root = tmp_path / "root"
    server_data = tmp_path / "server-data"
    with fake_server(server_data, LearningFake({})) as (url, settings):
        for name, (argv, env) in commands.items():
            assert argv[0] == "refresh", name
            data_dir = Path(argv[argv.index("--data-dir") + 1])
            # the job's data folder is the server's (a shared volume in the containers): here, one folder
            link = root / str(data_dir).lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(server_data)
            for key in list(env) + ["PAPERTRANS_SERVER", "PAPERTRANS_ADMIN_KEY"]:
                monkeypatch.delenv(key, raising=False)
            monkeypatch.setenv("PAPERTRANS_SERVER", url)  # what refresh.env / the manifest's env gives it
            monkeypatch.setenv("PAPERTRANS_ADMIN_KEY", ADMIN_KEY)
            args = build_parser().parse_args(_as_run_here(argv, root, url))
            opts = refresh_options(args)
            assert opts.server == url and opts.adapter_name is None, name
            assert opts.regression_file == regression_set(), name  # the starter's domain is watched by default
            target = refresh_mod._target(opts, {})
            with Client(url, admin_key=ADMIN_KEY) as admin:
                active = next(a for a in admin.adapters() if a["name"] == STARTER_NAME)
            folder = next(v["folder"] for v in active["versions"] if v["version"] == active["active"])
            assert (target.name, target.source) == (STARTER_NAME, f"server:{STARTER_NAME}@{active['active']}"), name
            assert target.parent is not None and target.parent.resolve() == (settings.adapter_dir / folder).resolve()
    # the CronJob's adapter store (<data-dir>/adapters) is the claim every replica reads as its adapter store:
    # registered folders are relative to the store, so the mount paths may differ but the volume may not
    docs = _docs()
    app_pod = _of(docs, "Deployment")["papertrans"]["spec"]["template"]["spec"]
    job_pod = _of(docs, "CronJob")["papertrans-refresh"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    cron_argv = commands["cronjob"][0]
    job_store = str(Path(cron_argv[cron_argv.index("--data-dir") + 1]) / "adapters")
    app_store = _env(app_pod["containers"][0])["PAPERTRANS_ADAPTERS_DIR"]
    assert _claim_at(job_pod, job_store) == _claim_at(app_pod, app_store) is not None


def _claim_at(pod: dict[str, Any], mount_path: str) -> str | None:
    """The persistent volume claim a pod's first container mounts at ``mount_path``."""
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0].get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    volume = volumes.get(mounts.get(mount_path, ""), {})
    claim = volume.get("persistentVolumeClaim", {}).get("claimName")
    return str(claim) if claim else None
