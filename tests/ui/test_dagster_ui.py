"""Issue 5: the Dagster UI shows the operator the whole graph, descriptions, column schemas and checks.

First through the webserver's GraphQL API (what the UI is built from), then in a real headless
Chromium (what the UI renders). The instance holds one successful ``harvest`` run of the bundled
recordings' date (see conftest.py); the servers and the browser are real and stopped at the end.
"""

from __future__ import annotations

import collections
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from models import snapshot
from pipelines.checks import DRIFT_CHECKS, SPEC_CHECKS
from scrapers.registry import all_sources
from tests.ui.browser import LOCAL, Chromium
from tests.ui.conftest import AS_OF, DagsterUI

SOURCES = ("nustar", "xmm_newton", "integral", "eso", "hess_dl3_dr1")
IVOA = ("obsplan", "obscore", "obscore_radio", "obscore_hea", "obsplan_history", "changes")
#: The per-source boxes of the lineage graph: Dagster labels a box with its key's last part.
LABELS = {(layer, s): f"{s}_{layer}" for layer in ("raw", "core") for s in SOURCES}
EXPECTED_ASSETS = {
    *(f"{layer}/{label}" for (layer, _), label in LABELS.items()),
    *(f"out/ivoa/{t}" for t in IVOA),
    "out/publish/snapshot",
}
#: Sources harvested on a schedule (HESS DL3 DR1 is a fixed archive release: no schedule).
SCHEDULED = {"nustar": "0 6 * * *", "xmm_newton": "0 */6 * * *", "integral": "0 3 1 * *", "eso": "0 7 * * 1"}

REPOSITORY_QUERY = """
{
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        jobs { name }
        schedules { name cronSchedule pipelineName executionTimezone }
        sensors { name sensorType sensorState { status } }
        assetNodes {
          assetKey { path }
          description
          groupName
          kinds
          tags { key value }
          jobNames
          dependencyKeys { path }
          assetMaterializations(limit: 1) { partition runId }
          metadataEntries {
            label
            __typename
            ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
          }
          assetChecksOrError {
            __typename
            ... on AssetChecks {
              checks { name blocking description executionForLatestMaterialization { status runId } }
            }
          }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def repository(dagster_ui: DagsterUI) -> dict[str, Any]:
    """The code location's one repository as the UI queries it."""
    answer = dagster_ui.graphql(REPOSITORY_QUERY)["repositoriesOrError"]
    assert answer["__typename"] == "RepositoryConnection", answer
    assert len(answer["nodes"]) == 1, [n["name"] for n in answer["nodes"]]
    return answer["nodes"][0]


@pytest.fixture(scope="module")
def assets(repository: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Asset nodes by ``a/b/c`` key."""
    return {"/".join(a["assetKey"]["path"]): a for a in repository["assetNodes"]}


def _checks(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    answer = node["assetChecksOrError"]
    assert answer["__typename"] == "AssetChecks", answer
    return {c["name"]: c for c in answer["checks"]}


def _column_schema(node: dict[str, Any]) -> list[dict[str, str]]:
    entries = [m for m in node["metadataEntries"] if m["label"] == "dagster/column_schema"]
    assert len(entries) == 1, [m["label"] for m in node["metadataEntries"]]
    assert entries[0]["__typename"] == "TableSchemaMetadataEntry", entries[0]
    return entries[0]["schema"]["columns"]


# ---- GraphQL: what the UI is given ------------------------------------------------------------


def test_registry_has_the_expected_sources() -> None:
    assert set(all_sources()) == set(SOURCES)


def test_every_asset_of_the_graph_is_there(assets: dict[str, dict[str, Any]]) -> None:
    missing = EXPECTED_ASSETS - set(assets)
    assert not missing, f"missing {sorted(missing)}; the UI has {sorted(assets)}"
    groups = {key: node["groupName"] for key, node in assets.items()}
    assert {groups[f"raw/{s}_raw"] for s in SOURCES} == {"raw"}
    assert {groups[f"core/{s}_core"] for s in SOURCES} == {"core"}
    assert {groups[f"out/ivoa/{t}"] for t in IVOA} == {"ivoa"}
    assert groups["out/publish/snapshot"] == "publish"


def test_every_asset_has_a_description(assets: dict[str, dict[str, Any]]) -> None:
    undescribed = sorted(key for key, node in assets.items() if not (node["description"] or "").strip())
    assert not undescribed, f"assets without a description: {undescribed}"
    for source in SOURCES:
        assert source in assets[f"raw/{source}_raw"]["description"]
        assert source in assets[f"core/{source}_core"]["description"]
    for table in IVOA:
        assert assets[f"out/ivoa/{table}"]["description"] == snapshot.SNAPSHOT_TABLES[table].description
    assert "manifest.json" in assets["out/publish/snapshot"]["description"]


def test_every_asset_was_materialised_for_the_date_by_the_run(
    assets: dict[str, dict[str, Any]], dagster_ui: DagsterUI
) -> None:
    latest = {key: node["assetMaterializations"] for key, node in assets.items()}
    wrong = {
        key: mats
        for key, mats in latest.items()
        if mats != [{"partition": AS_OF.isoformat(), "runId": dagster_ui.run_id}]
    }
    assert not wrong, f"expected one materialisation of {AS_OF} by run {dagster_ui.run_id}: {wrong}"
    run = dagster_ui.graphql(
        "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { jobName status tags { key value } } } }",
        {"id": dagster_ui.run_id},
    )["runOrError"]
    assert (run["jobName"], run["status"]) == ("harvest", "SUCCESS")
    assert {"key": "dagster/partition", "value": AS_OF.isoformat()} in run["tags"]


def test_every_source_asset_names_its_source(assets: dict[str, dict[str, Any]]) -> None:
    # the graph labels a node with its key's last part (nustar_raw, nustar_core); the source is also a kind
    # tag shown on the node, a tag for filtering, and the start of the description
    facilities = {name: source.facility for name, source in all_sources().items()}
    for source in SOURCES:
        for key in (f"raw/{source}_raw", f"core/{source}_core"):
            node = assets[key]
            assert node["assetKey"]["path"][-1].startswith(f"{source}_"), node["assetKey"]
            assert source in node["kinds"], (key, node["kinds"])
            assert {"key": "source", "value": source} in node["tags"], (key, node["tags"])
            assert node["description"].startswith(f"{facilities[source]}: "), node["description"]


def test_alert_sensors_are_on(repository: dict[str, Any]) -> None:
    sensors = {s["name"]: s for s in repository["sensors"]}
    assert set(sensors) == {"voharvest_run_failure_alert", "voharvest_freshness_alert"}
    assert sensors["voharvest_run_failure_alert"]["sensorType"] == "RUN_STATUS"
    assert {s["sensorState"]["status"] for s in sensors.values()} == {"RUNNING"}


def test_obsplan_exposes_the_26_obsloctap_columns(assets: dict[str, dict[str, Any]]) -> None:
    spec = snapshot.SNAPSHOT_TABLES["obsplan"]
    columns = _column_schema(assets["out/ivoa/obsplan"])
    assert len(columns) == 26
    assert [(c["name"], c["description"]) for c in columns] == [(c.name, c.description) for c in spec.columns]
    assert all(c["description"].strip() for c in columns)
    by_name = {c["name"]: c for c in columns}
    assert by_name["t_min"]["type"] == "double [d]"
    assert by_name["s_ra"]["type"] == "double [deg]"
    assert by_name["execution_status"]["type"] == "char"


@pytest.mark.parametrize("table", IVOA)
def test_ivoa_tables_expose_their_spec_as_column_schema(assets: dict[str, dict[str, Any]], table: str) -> None:
    spec = snapshot.SNAPSHOT_TABLES[table]
    assert [c["name"] for c in _column_schema(assets[f"out/ivoa/{table}"])] == [c.name for c in spec.columns]


@pytest.mark.parametrize(
    ("key", "names"),
    [
        *((f"out/ivoa/{t}", set(SPEC_CHECKS)) for t in IVOA),
        *((f"core/{s}_core", set(DRIFT_CHECKS)) for s in SOURCES),
    ],
)
def test_blocking_checks_passed_in_the_run(
    assets: dict[str, dict[str, Any]], dagster_ui: DagsterUI, key: str, names: set[str]
) -> None:
    checks = _checks(assets[key])
    assert set(checks) == names
    for name, check in checks.items():
        assert check["blocking"], f"{key}:{name} is not blocking"
        assert check["description"], f"{key}:{name} has no description"
        assert check["executionForLatestMaterialization"] == {"status": "SUCCEEDED", "runId": dagster_ui.run_id}, (
            f"{key}:{name}: {check['executionForLatestMaterialization']}"
        )


def test_obsplan_checks_are_the_six_spec_checks(assets: dict[str, dict[str, Any]]) -> None:
    expected = {"schema", "null_rules", "vocabularies", "ranges", "unique_keys", "plausibility"}
    assert set(_checks(assets["out/ivoa/obsplan"])) == expected


def test_jobs_and_a_schedule_per_scheduled_source(repository: dict[str, Any]) -> None:
    jobs = {j["name"] for j in repository["jobs"]}
    assert {"harvest", "publish", *(f"harvest_{s}" for s in SOURCES)} <= jobs
    schedules = {s["name"]: s for s in repository["schedules"]}
    expected = {f"harvest_{s}_schedule" for s in SCHEDULED} | {"publish_daily"}
    assert set(schedules) == expected
    for source, cron in SCHEDULED.items():
        schedule = schedules[f"harvest_{source}_schedule"]
        assert (schedule["cronSchedule"], schedule["pipelineName"], schedule["executionTimezone"]) == (
            cron,
            f"harvest_{source}",
            "UTC",
        )
    assert (schedules["publish_daily"]["cronSchedule"], schedules["publish_daily"]["pipelineName"]) == (
        "45 23 * * *",
        "publish",
    )


# ---- Chromium: what the UI renders ------------------------------------------------------------


def _keep(browser: Chromium, work: Path, name: str) -> None:
    """Save what the page rendered (screenshot + DOM) next to the test's logs."""
    browser.screenshot(work / "artifacts" / f"{name}.png")
    (work / "artifacts" / f"{name}.html").write_text(browser.dom(), encoding="utf-8")


def _lines(text: str) -> collections.Counter[str]:
    return collections.Counter(line.strip() for line in text.splitlines() if line.strip())


def test_graph_page_renders_every_asset_and_edge(
    browser: Chromium, dagster_ui: DagsterUI, ui_work: Path, assets: dict[str, dict[str, Any]]
) -> None:
    groups = ["raw", "core", "ivoa", "publish"]
    edges = sum(len(node["dependencyKeys"]) for node in assets.values())
    assert edges == 5 + 5 * 7 + 7  # raw -> core, core -> each out/ivoa output, out/ivoa -> snapshot
    browser.goto(f"{dagster_ui.url}/asset-groups")
    browser.wait_for_text(["Global asset lineage", *groups, "Materialize all"])
    # Groups start collapsed; "Expand all groups" is the graph's Alt+E shortcut (the choice is kept
    # in the browser), and reloading lays the expanded graph out to fit the viewport.
    browser.press("e", "KeyE", 69, modifiers=1)
    browser.wait_for(lambda t: "nustar_raw" in _lines(t), "the groups to expand")
    browser.goto(f"{dagster_ui.url}/asset-groups")
    names = [*IVOA, "provenance", "snapshot"]

    def whole_graph(text: str) -> bool:
        # every raw and core box shows its source's name, once (nothing truncated, no two boxes alike)
        lines = _lines(text)
        return all(lines[label] == 1 for label in LABELS.values()) and all(lines[n] for n in names)

    text = browser.wait_for(whole_graph, "every asset node of the graph")
    # Edges are drawn (as SVG paths ending in an arrow) once the graph has laid out.
    drawn = "document.querySelectorAll('svg path[marker-end]').length"
    browser.wait_for(lambda _: browser.evaluate(drawn) == edges, f"the {edges} lineage edges")
    _keep(browser, ui_work, "asset_graph")
    assert all(_lines(text)[g] for g in groups), _lines(text)


def test_asset_page_shows_description_and_column_schema(
    browser: Chromium, dagster_ui: DagsterUI, ui_work: Path
) -> None:
    spec = snapshot.SNAPSHOT_TABLES["obsplan"]
    browser.goto(f"{dagster_ui.url}/assets/out/ivoa/obsplan")
    text = browser.wait_for_text(
        [spec.description, "Columns", "Latest check results", AS_OF.isoformat(), spec.columns[-1].description]
    )
    _keep(browser, ui_work, "asset_obsplan")
    lines = _lines(text)
    assert [c.name for c in spec.columns if not lines[c.name]] == []
    assert [c.description for c in spec.columns if c.description not in text] == []
    assert "harvest" in lines and "publish" in lines  # the jobs that materialise it


@pytest.mark.parametrize(
    ("key", "names"),
    [("out/ivoa/obsplan", sorted(SPEC_CHECKS)), ("core/nustar_core", sorted(DRIFT_CHECKS))],
)
def test_checks_tab_shows_every_check_passed(
    browser: Chromium, dagster_ui: DagsterUI, ui_work: Path, key: str, names: list[str]
) -> None:
    browser.goto(f"{dagster_ui.url}/assets/{key}?view=checks")
    text = browser.wait_for(
        lambda t: f"Checks ({len(names)})" in t and _lines(t)["Succeeded"] == len(names) and "blocking" in t,
        f"{len(names)} succeeded checks of {key}",
    )
    _keep(browser, ui_work, f"checks_{key.replace('/', '_')}")
    lines = _lines(text)
    assert [n for n in names if not lines[n]] == []
    assert "Failed" not in lines


def test_automation_page_lists_the_schedules(browser: Chromium, dagster_ui: DagsterUI, ui_work: Path) -> None:
    names = [*(f"harvest_{s}_schedule" for s in SCHEDULED), "publish_daily"]
    browser.goto(f"{dagster_ui.url}/automation")
    text = browser.wait_for_text([*names, "At 11:45 PM UTC", "every 6 hours"])
    _keep(browser, ui_work, "automation")
    assert [n for n in names if n not in _lines(text)] == []


# ---- stopping leaves nothing behind -----------------------------------------------------------


def test_browser_and_webserver_stop_without_leftovers(browser: Chromium, dagster_ui: DagsterUI) -> None:
    assert browser.stop() == []
    assert dagster_ui.stop() == []
    with pytest.raises(urllib.error.URLError):
        LOCAL.open(f"{dagster_ui.url}/server_info", timeout=5)
