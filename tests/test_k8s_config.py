"""Issue 14: the documented instance files load with Dagster's own config schemas.

The Kubernetes variant (``deploy/k8s/dagster.yaml``, ``deploy/k8s/run-config.yaml``) stays
configuration: it is checked against Dagster's instance schema, ``K8sRunLauncher``'s and
``k8s_job_executor``'s config schemas (dagster-k8s 0.29.27, the release matching the pinned Dagster), and
the launcher is built from it with a local kubeconfig (nothing contacts a cluster). The PostgreSQL +
Celery variant (``deploy/dagster.yaml``, ``deploy/celery-worker.yaml``) is checked the same way here and
run for real in ``tests/integration/test_scaleout.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import RunLauncher
from dagster_celery import celery_executor
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_postgres.utils import pg_url_from_config

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "deploy" / "k8s"
INSTANCE_FILES = [REPO / "dagster.yaml", REPO / "deploy" / "dagster.yaml", K8S / "dagster.yaml"]

#: A kubeconfig naming a cluster on 127.0.0.1 (loading it parses the file; nothing connects).
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: local, user: {token: not-a-secret}}]
contexts: [{name: local, context: {cluster: local, user: local, namespace: voharvest}}]
current-context: local
"""


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _instance_dir(tmp_path: Path, document: dict[str, Any]) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return home


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_instance_files_pass_dagsters_instance_schema(path: Path) -> None:
    config, custom_class = dagster_instance_config(str(path.parent), path.name)
    assert custom_class is None
    assert config["telemetry"] == {"enabled": False} and config["nux"] == {"enabled": False}


def test_a_misspelt_key_is_refused_by_the_same_check(tmp_path: Path) -> None:
    document = _yaml(K8S / "dagster.yaml")
    document["run_launcher"]["config"]["job_imag"] = document["run_launcher"]["config"].pop("job_image")
    process = process_config(K8sRunLauncher.config_type(), document["run_launcher"]["config"])
    assert not process.success and "job_imag" in str(process.errors)
    document = _yaml(K8S / "dagster.yaml")
    document["telemetri"] = document.pop("telemetry")
    with pytest.raises(DagsterInvalidConfigError, match="telemetri"):
        dagster_instance_config(str(_instance_dir(tmp_path, document)))


def test_k8s_run_launcher_config_is_valid_and_builds_the_launcher(tmp_path: Path) -> None:
    document = _yaml(K8S / "dagster.yaml")
    launcher = document["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    processed = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert processed.success, processed.errors
    # built the way the instance builds it (InstanceRef -> ConfigurableClassData.rehydrate), with the
    # in-cluster login swapped for a local kubeconfig: everything else is the documented file
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    launcher["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    ref = InstanceRef.from_dir(str(_instance_dir(tmp_path, document)))
    built = ref.run_launcher_data.rehydrate(as_type=RunLauncher)
    assert isinstance(built, K8sRunLauncher)
    assert built.job_namespace == "voharvest"
    assert built.instance_config_map == "voharvest-instance"
    assert built.dagster_home == "/opt/dagster/dagster_home"
    assert built.image_pull_policy == "IfNotPresent"
    assert built.env_config_maps == ["voharvest-env"] and built.env_secrets == ["voharvest-pg"]
    assert built.volume_mounts == [{"name": "voharvest-data", "mountPath": "/srv/voharvest"}]
    assert built.volumes == [{"name": "voharvest-data", "persistentVolumeClaim": {"claimName": "voharvest-data"}}]
    assert built.service_account_name == "voharvest"
    assert built.job_image == "registry.example.org/voharvest:2025.09"


def test_k8s_storage_is_postgres_with_a_psycopg2_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.storage.config import pg_config

    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "s3cret")
    raw = _yaml(K8S / "dagster.yaml")["storage"]["postgres"]
    processed = process_config(pg_config(), raw)
    assert processed.success, processed.errors
    db = raw["postgres_db"]
    by_hand = f"postgresql+psycopg2://{db['username']}:s3cret@{db['hostname']}:{db['port']}/{db['db_name']}"
    assert pg_url_from_config(processed.value) == by_hand


def test_k8s_run_config_matches_the_step_executor_schema() -> None:
    execution = _yaml(K8S / "run-config.yaml")["execution"]["config"]
    processed = process_config(k8s_job_executor.config_schema.config_type, execution)
    assert processed.success, processed.errors
    assert processed.value["max_concurrent"] == 5 and processed.value["job_namespace"] == "voharvest"


def test_celery_worker_config_names_the_executors_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.definitions import CELERY_ENV, executor_from_env

    monkeypatch.setenv(CELERY_ENV["broker"], "redis://127.0.0.1:6390/0")
    monkeypatch.setenv(CELERY_ENV["backend"], "redis://127.0.0.1:6390/1")
    worker = _yaml(REPO / "deploy" / "celery-worker.yaml")["execution"]["config"]
    assert worker == {key: {"env": var} for key, var in CELERY_ENV.items()}
    processed = process_config(celery_executor.config_schema.config_type, worker)
    assert processed.success, processed.errors
    assert (processed.value["broker"], processed.value["backend"]) == (
        "redis://127.0.0.1:6390/0",
        "redis://127.0.0.1:6390/1",
    )
    # the runs' executor reads the same variables (the workers and the runs must meet on one broker)
    executor = executor_from_env({"VOHARVEST_EXECUTOR": "celery", **{v: "x" for v in CELERY_ENV.values()}})
    assert executor is not None and executor.name == "celery"
    assert executor_from_env({}) is None
    with pytest.raises(ValueError, match="VOHARVEST_EXECUTOR='dask'"):
        executor_from_env({"VOHARVEST_EXECUTOR": "dask"})
