"""The Kubernetes manifests in deploy/kubernetes/ (issue 13 point 5), checked offline.

Every resource is validated against Kubernetes' own OpenAPI schemas (kubernetes-validate ships
them; skipped cleanly when it or its schemas are not available). Beyond the schema: the number of
shards is the number of replicas, the command each pod runs (with its ordinal substituted as the
shell would) is accepted by the worker's own parser, the shards together cover every center of
the config exactly once, each shard's key is in the Secret, and the config the ConfigMap holds
loads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from automation.application.all_centers import Shard, centers_of
from automation.cli import build_parser
from automation.config import load_config

yaml = pytest.importorskip("yaml", reason="PyYAML (a dependency of kubernetes-validate) is not installed")

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest maintained release with the pod-index label


def documents() -> list[dict]:
    found = []
    for path in sorted(FOLDER.glob("*.yaml")):
        found.extend(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)
    return found


def resource(kind: str, name: str) -> dict:
    return next(d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.fixture(scope="module")
def validate():
    kubernetes_validate = pytest.importorskip("kubernetes_validate",
                                              reason="kubernetes-validate is not installed (requirements.txt)")
    try:
        kubernetes_validate.validate(resource("Service", "reception-worker"), KUBERNETES_VERSION, strict=True)
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as missing:
        pytest.skip(f"Kubernetes {KUBERNETES_VERSION} schemas not available offline: {missing}")
    return kubernetes_validate


def test_every_manifest_is_a_valid_kubernetes_resource(validate):
    kinds = []
    for doc in documents():
        try:
            validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except validate.ValidationError as problem:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {problem}")
        kinds.append(doc["kind"])
    assert sorted(kinds) == ["ConfigMap", "Secret", "Secret", "Service", "StatefulSet"]


def container() -> dict:
    return resource("StatefulSet", "reception-worker")["spec"]["template"]["spec"]["containers"][0]


def env() -> dict[str, dict]:
    return {item["name"]: item for item in container()["env"]}


def as_the_shell_runs_it(text: str, ordinal: int) -> str:
    """`$((SHARD_ORDINAL + 1))` and `$SHARD_COUNT` as /bin/sh expands them for pod `ordinal`."""
    count = env()["SHARD_COUNT"]["value"]
    text = text.replace("$((SHARD_ORDINAL + 1))", str(ordinal + 1)).replace("$SHARD_COUNT", count)
    return text.replace('"$SHARD"', f"{ordinal + 1}/{count}").replace('\\"', "").replace('"', "")


def worker_argv(shell: str) -> list[str]:
    """The `python -m automation …` arguments at the end of a shell line."""
    tail = shell.split("exec python -m automation ", 1)[1]
    return [part.strip('"') for part in tail.split()]


def test_shards_are_the_replicas_and_the_ordinal_picks_shard_and_key(tmp_path):
    statefulset = resource("StatefulSet", "reception-worker")
    replicas = statefulset["spec"]["replicas"]
    assert int(env()["SHARD_COUNT"]["value"]) == replicas
    assert env()["SHARD_ORDINAL"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    keys = resource("Secret", "reception-worker-keys")["stringData"]
    assert sorted(keys) == [f"shard-{i}.json" for i in range(1, replicas + 1)]

    config_path = tmp_path / "config.toml"
    config_path.write_text(resource("ConfigMap", "reception-worker-config")["data"]["config.toml"], encoding="utf-8")
    config = load_config(config_path)
    assert {str(c.credentials) for c in config.centers} == {"/run/reception-worker/service-account.json"}

    parser = build_parser()
    covered = []
    for ordinal in range(replicas):
        line = as_the_shell_runs_it(container()["args"][0], ordinal)
        assert f"/etc/reception-worker/keys/shard-{ordinal + 1}.json /run/reception-worker/service-account.json" in line
        args = parser.parse_args(worker_argv(line))
        assert (args.command, args.config, args.shard) == ("serve", "/etc/reception-worker/config.toml",
                                                            f"{ordinal + 1}/{replicas}")
        covered += [c.name for c in centers_of(config, Shard.parse(args.shard))]
    assert sorted(covered) == sorted(c.name for c in config.centers)  # every center, once


def test_probes_run_status_of_the_pods_own_shard_without_google_requests():
    parser = build_parser()
    for probe in ("startupProbe", "livenessProbe"):
        shell = container()[probe]["exec"]["command"][-1]
        args = parser.parse_args(worker_argv(as_the_shell_runs_it(shell, 1)))
        assert (args.command, args.no_sheets, args.shard) == ("status", True, f"2/{env()['SHARD_COUNT']['value']}")


def test_resources_and_mounts_match_the_config():
    spec = container()
    assert re.fullmatch(r"\d+m", spec["resources"]["requests"]["cpu"])
    assert spec["resources"]["requests"]["memory"].endswith("Mi")
    mounts = {m["mountPath"] for m in spec["volumeMounts"]}
    assert {"/etc/reception-worker/config.toml", "/etc/reception-worker/keys", "/run/reception-worker",
            "/var/lib/reception-worker"} <= mounts
    config_text = resource("ConfigMap", "reception-worker-config")["data"]["config.toml"]
    assert 'state_dir = "/var/lib/reception-worker/state"' in config_text
    assert resource("StatefulSet", "reception-worker")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
