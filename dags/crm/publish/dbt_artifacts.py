"""Read what dbt left in its target directory: model and column descriptions (manifest.json) and
the outcome and timing of the last invocation's nodes (run_results.json)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: run_results.json unique_id prefixes of the nodes that check data or logic.
TEST_RESOURCE_TYPES = ("test", "unit_test")


@dataclass(frozen=True)
class ModelDoc:
    unique_id: str
    description: str
    columns: dict[str, str]


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str
    status: str
    completed_at: str | None
    failures: int | None
    message: str | None


@dataclass(frozen=True)
class DbtArtifacts:
    """Whatever subset of manifest.json and run_results.json exists (both are optional)."""

    models: dict[str, ModelDoc] = field(default_factory=dict)
    results: dict[str, NodeResult] = field(default_factory=dict)
    invocation: str | None = None
    generated_at: str | None = None

    @classmethod
    def load(cls, target_dir: Path, schema: str = "marts") -> DbtArtifacts:
        return cls(
            models=_read_models(target_dir / "manifest.json", schema),
            results=_read_results(target_dir / "run_results.json"),
            **_read_invocation(target_dir / "run_results.json"),
        )

    def model(self, name: str) -> ModelDoc | None:
        return self.models.get(name)

    def built_at(self, name: str) -> str | None:
        """When the last dbt invocation finished building the model ``name`` (ISO 8601, UTC)."""
        doc = self.models.get(name)
        result = self.results.get(doc.unique_id) if doc else None
        if result is None or result.status != "success":
            return None
        return result.completed_at

    def test_results(self) -> list[NodeResult]:
        return [r for r in self.results.values() if r.resource_type in TEST_RESOURCE_TYPES]

    def test_status_counts(self) -> Counter[tuple[str, str]]:
        """(resource type, status) -> count over the data tests and unit tests of the last run."""
        return Counter((r.resource_type, r.status) for r in self.test_results())


def _load_json(path: Path) -> dict | None:
    if not path.is_file():
        log.info("%s not found: dbt metadata will be missing from the publication", path)
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from exc


def _read_models(path: Path, schema: str) -> dict[str, ModelDoc]:
    data = _load_json(path)
    if data is None:
        return {}
    models = {}
    for unique_id, node in data.get("nodes", {}).items():
        if node.get("resource_type") != "model" or node.get("schema") != schema:
            continue
        columns = {name: (col.get("description") or "") for name, col in node.get("columns", {}).items()}
        models[node.get("alias") or node["name"]] = ModelDoc(
            unique_id, node.get("description") or "", columns
        )
    return models


def _read_results(path: Path) -> dict[str, NodeResult]:
    data = _load_json(path)
    if data is None:
        return {}
    results = {}
    for item in data.get("results", []):
        unique_id = item["unique_id"]
        timings = {t.get("name"): t for t in item.get("timing") or []}
        completed = (timings.get("execute") or {}).get("completed_at")
        results[unique_id] = NodeResult(
            unique_id=unique_id,
            resource_type=unique_id.split(".", 1)[0],
            status=str(item.get("status")),
            completed_at=completed,
            failures=item.get("failures"),
            message=item.get("message"),
        )
    return results


def _read_invocation(path: Path) -> dict[str, str | None]:
    data = _load_json(path) or {}
    metadata = data.get("metadata", {})
    args = data.get("args", {})
    return {"invocation": args.get("which"), "generated_at": metadata.get("generated_at")}
