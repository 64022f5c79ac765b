"""Offline checks of the docker-compose deployment: docker-compose.yml, Dockerfile and .env.example.

There is no Docker engine here, so nothing is built or started. Instead the compose file is validated
against the Compose Specification JSON schema that check-jsonschema vendors (`vendor.compose-spec`),
before and after interpolating it the way Compose does with the values of .env.example, and checked
for what the deployment promises: the services docs/deployment.md lists, a healthcheck on every
long-running service, Airflow services that wait for airflow-init, Celery only in its profile, no
secret in the file, and an image installed from uv.lock out of a build context without secrets.

Each check is a function returning the problems it finds; the tests run it on the real files and on
a deliberately broken copy, to prove that it can fail.
"""

from __future__ import annotations

import copy
import itertools
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
PYPROJECT = ROOT / "pyproject.toml"
UV_LOCK = ROOT / "uv.lock"
DOCKERIGNORE = ROOT / ".dockerignore"
# uv from PATH, or the copy `make venv` bootstraps into .tools/.
UV = shutil.which("uv") or shutil.which("uv", path=str(ROOT / ".tools" / "bin"))
# Docker Compose itself, where installed (the standalone binary; `config` needs no Docker engine).
COMPOSE_BINARY = shutil.which("docker-compose")

INIT_SERVICE = "airflow-init"
CELERY_PROFILE = "celery"
CELERY_SERVICES = frozenset({"redis", "airflow-worker", "flower"})
AIRFLOW_COMMANDS = frozenset({"api-server", "scheduler", "dag-processor", "triggerer"})
# The code folders mounted into the Airflow containers: where (Dockerfile: /opt/crm mirrors the
# repository), and the setting that points the pipeline at them.
PROJECT_MOUNTS = {
    "./dags": ("/opt/crm/dags", "AIRFLOW__CORE__DAGS_FOLDER"),
    "./dbt_project": ("/opt/crm/dbt_project", "CRM_DBT_PROJECT_DIR"),
    "./expectations": ("/opt/crm/expectations", "CRM_EXPECTATIONS_DIR"),
}
DUCKDB_POOL = "duckdb_writer"
# Local files that must never reach the image build context (secrets, data, environments, artefacts).
KEPT_OUT_OF_THE_IMAGE = (
    ".env",
    ".venv/bin/python",
    "data/warehouse.duckdb",
    "data/landing/sales/export.csv",
    "airflow_home/airflow.db",
    "dbt_project/target/manifest.json",
    "dbt_project/logs/dbt.log",
    "expectations/uncommitted/validations/x.json",
    "dags/crm/__pycache__/contract.cpython-311.pyc",
)

# A variable or environment key whose name says it holds a secret.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|SALT|TOKEN|BASIC_AUTH|REDISCLI_AUTH", re.IGNORECASE)
# ... unless it names where a secret is kept (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE).
SECRET_LOCATION = re.compile(r"_(FILE|PATH|DIR)$")
# A reference the Compose way: $$ (a literal $), $NAME, ${NAME}, ${NAME:-x}, ${NAME-x}, ${NAME:?x},
# ${NAME?x}, ${NAME:+x}, ${NAME+x}; a `$` followed by anything else is invalid, as in Compose.
REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?+])(?P<argument>[^}]*))?\}"
    r"|(?P<invalid>))"
)
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]*):(?P<password>[^@\s]*)@")

Problems = list[str]


# --- loading and interpolation -------------------------------------------------------------------


class InterpolationError(ValueError):
    """A reference Compose would refuse: a required variable without a value, or a bad format."""


def interpolate(value: Any, env: Mapping[str, str | None]) -> Any:
    """Interpolate every string value of a loaded compose document as Compose does.

    All required variables (`${NAME:?message}`, `${NAME?message}`) that have no value are reported
    together, where Compose stops at the first one.
    """
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["invalid"] is not None:
            raise InterpolationError(f"invalid interpolation format in {match.string!r}")
        name = match["named"] or match["braced"]
        operator, argument = match["operator"] or "", match["argument"] or ""
        if "$" in argument:
            raise InterpolationError(f"nested reference in {match.group(0)!r} is not supported here")
        current = env.get(name)
        is_set, is_empty = current is not None, not current
        if operator in {":-", "-"}:
            return argument if not is_set or (operator == ":-" and is_empty) else current or ""
        if operator in {":?", "?"}:
            if not is_set or (operator == ":?" and is_empty):
                missing.append(f"{name} ({argument})")
                return ""
            return current or ""
        if operator in {":+", "+"}:
            return argument if is_set and (operator == "+" or not is_empty) else ""
        return current or ""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return REFERENCE.sub(substitute, node)
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result = walk(value)
    if missing:
        raise InterpolationError("required variables have no value: " + ", ".join(sorted(set(missing))))
    return result


def references(text: str) -> Iterator[re.Match[str]]:
    """Every variable reference of a compose text ($$ escapes are not references)."""
    for match in REFERENCE.finditer(text):
        if match["named"] or match["braced"]:
            yield match


def load_compose(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)


def example_env() -> dict[str, str | None]:
    return dict(dotenv_values(ENV_EXAMPLE, interpolate=False))


def filled_env(**overrides: str) -> dict[str, str | None]:
    """.env.example with a stand-in for every value it leaves empty (the secrets), plus overrides."""
    env = {key: value or f"stand-in-{key.lower()}" for key, value in example_env().items()}
    return env | overrides


def services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def one_shot_services(compose: Mapping[str, Any]) -> set[str]:
    """Services others wait for with `service_completed_successfully`: jobs, not daemons."""
    return {
        target
        for service in services(compose).values()
        for target, condition in _depends_on(service).items()
        if condition.get("condition") == "service_completed_successfully"
    }


def airflow_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the project image (the one airflow-init runs), airflow-init included."""
    image = services(compose)[INIT_SERVICE]["image"]
    return {name: service for name, service in services(compose).items() if service.get("image") == image}


def _depends_on(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    depends_on = service.get("depends_on", {})
    if isinstance(depends_on, list):
        return {name: {"condition": "service_started"} for name in depends_on}
    return depends_on


def _environment(service: Mapping[str, Any]) -> dict[str, Any]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    return environment


def _named_volume_targets(service: Mapping[str, Any], declared: Mapping[str, Any]) -> set[str]:
    targets = set()
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if source in declared:
            targets.add(rest.split(":")[0])
    return targets


# --- Dockerfile -------------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_arg_default(text: str, name: str) -> str:
    for keyword, arguments in dockerfile_instructions(text):
        if keyword == "ARG" and arguments.startswith(f"{name}="):
            return arguments.split("=", 1)[1].strip('"')
    raise AssertionError(f"Dockerfile: no `ARG {name}=<default>`")


def dockerfile_uv_sync(text: str) -> list[str]:
    """The arguments of the Dockerfile's `uv sync` command (up to the next `&&` or `;`)."""
    for keyword, arguments in dockerfile_instructions(text):
        if keyword == "RUN" and (found := re.search(r"\buv sync\b(?P<arguments>[^;&]*)", arguments)):
            return shlex.split(found["arguments"])
    return []


# --- the checks ------------------------------------------------------------------------------------


def schema_errors(path: Path) -> Problems:
    """Validate with the Compose Specification schema vendored by check-jsonschema."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return [] if result.returncode == 0 else [result.stdout + result.stderr]


def reference_problems(compose: Mapping[str, Any]) -> Problems:
    """depends_on targets are services, named volumes are declared."""
    problems = []
    declared = compose.get("volumes") or {}
    for name, service in services(compose).items():
        for target in _depends_on(service):
            if target not in services(compose):
                problems.append(f"{name}: depends_on names no service: {target}")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/", "~")) and source not in declared:
                problems.append(f"{name}: volume {source!r} is not declared under `volumes:`")
    return problems


def healthcheck_problems(compose: Mapping[str, Any]) -> Problems:
    """Every long-running service has a healthcheck; a one-shot job has none and does not restart."""
    problems = []
    jobs = one_shot_services(compose)
    for name, service in services(compose).items():
        healthcheck = service.get("healthcheck")
        if name in jobs:
            if service.get("restart", "no") != "no":
                problems.append(f"{name}: a one-shot job must not restart (restart: {service['restart']})")
            if healthcheck not in (None, {"disable": True}):
                problems.append(f"{name}: a one-shot job's health is its exit code, not a healthcheck")
        elif not healthcheck or healthcheck.get("disable") or not healthcheck.get("test"):
            problems.append(f"{name}: no healthcheck")
    return problems


def init_dependency_problems(compose: Mapping[str, Any]) -> Problems:
    """Airflow services start only after airflow-init exited 0, and only on a healthy database."""
    problems = []
    for name, service in airflow_services(compose).items():
        depends_on = _depends_on(service)
        if depends_on.get("postgres", {}).get("condition") != "service_healthy":
            problems.append(f"{name}: does not wait for a healthy postgres")
        if name == INIT_SERVICE:
            continue
        if depends_on.get(INIT_SERVICE, {}).get("condition") != "service_completed_successfully":
            problems.append(f"{name}: does not wait for {INIT_SERVICE} to complete successfully")
    commands = {str(service.get("command")) for service in airflow_services(compose).values()}
    problems += [f"no service runs `airflow {command}`" for command in sorted(AIRFLOW_COMMANDS - commands)]
    return problems


def celery_profile_problems(compose: Mapping[str, Any]) -> Problems:
    """Redis, the workers and Flower exist only in the `celery` profile; nothing else needs them."""
    problems = []
    in_profile = {name for name, service in services(compose).items() if service.get("profiles")}
    for name in sorted(CELERY_SERVICES - set(services(compose))):
        problems.append(f"{name}: missing")
    for name, service in services(compose).items():
        profiles = service.get("profiles") or []
        if name in CELERY_SERVICES and profiles != [CELERY_PROFILE]:
            problems.append(f"{name}: profiles are {profiles}, expected [{CELERY_PROFILE!r}]")
        if name not in CELERY_SERVICES and CELERY_PROFILE in profiles:
            problems.append(f"{name}: in the {CELERY_PROFILE!r} profile but not a Celery service")
        if not profiles:
            for target, condition in _depends_on(service).items():
                if target in in_profile and condition.get("required", True):
                    problems.append(
                        f"{name}: always started but requires {target}, which only a profile starts "
                        "(set `required: false`)"
                    )
    return problems


def executor_problems(compose_text: str) -> Problems:
    """LocalExecutor by default; AIRFLOW_EXECUTOR=CeleryExecutor switches every Airflow service."""
    problems = []
    for expected, overrides in (
        ("LocalExecutor", {}),
        ("CeleryExecutor", {"AIRFLOW_EXECUTOR": "CeleryExecutor"}),
    ):
        compose = interpolate(load_compose(compose_text), filled_env(**overrides))
        for name, service in airflow_services(compose).items():
            executor = _environment(service).get("AIRFLOW__CORE__EXECUTOR")
            if executor != expected:
                problems.append(
                    f"{name}: executor {executor!r} with {overrides or 'defaults'}, expected {expected}"
                )
    return problems


def mount_problems(compose: Mapping[str, Any]) -> Problems:
    """Airflow services mount the code folders and keep CRM_DATA_DIR and the warehouse on a named volume."""
    problems = []
    declared = compose.get("volumes") or {}
    for name, service in airflow_services(compose).items():
        mounts = dict(volume.split(":", 1) for volume in service.get("volumes", []))
        environment = _environment(service)
        for source, (target, setting) in PROJECT_MOUNTS.items():
            if mounts.get(source) != f"{target}:ro":
                problems.append(f"{name}: {source} is not mounted read-only at {target}")
            if environment.get(setting) != target:
                problems.append(f"{name}: {setting} is not the mounted {source} ({target})")
        data_dir, warehouse = environment.get("CRM_DATA_DIR"), environment.get("CRM_WAREHOUSE_PATH")
        if data_dir not in _named_volume_targets(service, declared):
            problems.append(f"{name}: CRM_DATA_DIR ({data_dir}) is not a named volume")
        if not warehouse or not data_dir or not warehouse.startswith(f"{data_dir}/"):
            problems.append(
                f"{name}: CRM_WAREHOUSE_PATH ({warehouse}) is not inside CRM_DATA_DIR ({data_dir})"
            )
        if str(environment.get("AIRFLOW__CORE__LOAD_EXAMPLES")).lower() != "false":
            problems.append(f"{name}: AIRFLOW__CORE__LOAD_EXAMPLES is not false")
    return problems


def init_script_problems(compose: Mapping[str, Any]) -> Problems:
    """airflow-init migrates the database and creates the single-slot pool of DuckDB writers."""
    init = services(compose)[INIT_SERVICE]
    script = " ".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    problems = []
    if str(_environment(init).get("_AIRFLOW_DB_MIGRATE")).lower() != "true":
        problems.append(f"{INIT_SERVICE}: _AIRFLOW_DB_MIGRATE is not true")
    if not re.search(rf"airflow pools set {DUCKDB_POOL} 1 ", script):
        problems.append(f"{INIT_SERVICE}: does not create pool {DUCKDB_POOL} with 1 slot")
    return problems


def secret_problems(compose_text: str) -> Problems:
    """No secret is written in the file: each comes from a required variable without a default."""
    problems = []
    for match in references(compose_text):
        name = match["named"] or match["braced"]
        if _is_secret_name(name) and match["operator"] not in {":?", "?"}:
            problems.append(
                f"{match.group(0)}: a secret must be required (${{{name}:?...}}), with no default"
            )
    for line_number, line in enumerate(compose_text.splitlines(), start=1):
        for credentials in URL_CREDENTIALS.finditer(line):
            if not _is_required_reference(credentials["password"]):
                problems.append(f"line {line_number}: password written in a URL: {credentials.group(0)}")
    compose = load_compose(compose_text)
    for name, service in services(compose).items():
        for key, value in _environment(service).items():
            if _is_secret_name(key) and not _only_required_references(str(value or "")):
                problems.append(f"{name}: {key} is not taken from a required variable: {value!r}")
        command = service.get("command")
        if isinstance(command, list):
            for flag, value in itertools.pairwise(command):
                if re.fullmatch(r"--\w*(pass|secret)\w*", flag) and not _is_required_reference(value):
                    problems.append(f"{name}: {flag} given literally")
    return problems


def _is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not SECRET_LOCATION.search(name)


def _is_required_reference(text: str) -> bool:
    match = REFERENCE.fullmatch(text)
    return bool(match and match["braced"] and match["operator"] in {":?", "?"})


def _only_required_references(value: str) -> bool:
    """Secrets, possibly joined by separators or with a defaulted user name (`user:password`)."""
    found = list(references(value))
    required = [match for match in found if match["operator"] in {":?", "?"}]
    remainder = REFERENCE.sub("", value)
    return bool(required) and re.fullmatch(r"[:@/]*", remainder) is not None


def example_env_problems(compose_text: str, env_text: str) -> Problems:
    """.env.example documents every variable the compose file reads and holds no secret."""
    problems = []
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", env_text, flags=re.MULTILINE))
    for name in sorted({match["named"] or match["braced"] for match in references(compose_text)}):
        if name not in documented:
            problems.append(f"{name}: used by docker-compose.yml but not documented in .env.example")
    for line_number, line in enumerate(env_text.splitlines(), start=1):
        key, separator, value = line.partition("=")
        if separator and not key.startswith("#") and _is_secret_name(key) and value.strip():
            problems.append(f".env.example line {line_number}: {key} has a value; leave secrets empty")
    return problems


def documented_service_problems(compose: Mapping[str, Any], doc_text: str) -> Problems:
    """The services table of docs/deployment.md and the compose file name the same services."""
    section = re.search(r"^## Services\n(?P<body>.*?)(?=^## |\Z)", doc_text, flags=re.MULTILINE | re.DOTALL)
    if not section:
        return ["docs/deployment.md: no `## Services` section"]
    documented = set(re.findall(r"^\|\s*`([a-z0-9._-]+)`\s*\|", section["body"], flags=re.MULTILINE))
    problems = [
        f"{name}: in docs/deployment.md, not in docker-compose.yml"
        for name in sorted(documented - set(services(compose)))
    ]
    problems += [
        f"{name}: in docker-compose.yml, not in docs/deployment.md"
        for name in sorted(set(services(compose)) - documented)
    ]
    return problems


def dockerfile_install_problems(dockerfile_text: str) -> Problems:
    """The image installs from uv.lock, frozen, and never with pip or at container start."""
    problems = []
    instructions = dockerfile_instructions(dockerfile_text)
    lock_copied_at = next(
        (
            index
            for index, (keyword, arguments) in enumerate(instructions)
            if keyword == "COPY" and "uv.lock" in arguments.split()
        ),
        None,
    )
    syncs = [
        (index, arguments)
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN" and re.search(r"\buv sync\b", arguments)
    ]
    if lock_copied_at is None:
        problems.append("uv.lock is not copied into the image")
    if not syncs:
        problems.append("no `uv sync` installs the dependencies")
    if lock_copied_at is not None and any(index < lock_copied_at for index, _ in syncs):
        problems.append("`uv sync` runs before uv.lock is copied")
    sync = dockerfile_uv_sync(dockerfile_text)
    if syncs and not {"--frozen", "--locked"} & set(sync):
        problems.append("`uv sync` without --frozen or --locked may re-resolve instead of using uv.lock")
    if syncs and "--no-dev" not in sync:
        problems.append("`uv sync` installs the dev group (add --no-dev)")
    if syncs and "--all-extras" not in sync:
        problems.append(
            "`uv sync` without --all-extras: the image would lack what `make run` and the tests use"
        )
    for keyword, arguments in instructions:
        if keyword == "RUN" and re.search(r"\b(pip3?|uv pip) install\b|\buv (add|lock)\b", arguments):
            problems.append(f"installs outside the lock: RUN {arguments[:80]}")
    return problems


def pip_additional_requirement_problems(
    dockerfile_text: str, compose: Mapping[str, Any], env: Mapping[str, str | None]
) -> Problems:
    """Nothing is pip-installed at container start: the variable is set nowhere (comments aside)."""
    variable = "_PIP_ADDITIONAL_REQUIREMENTS"
    problems = [
        f"Dockerfile: {keyword} {arguments[:60]}"
        for keyword, arguments in dockerfile_instructions(dockerfile_text)
        if variable in arguments
    ]
    problems += [
        f"docker-compose.yml: {name} sets {variable}"
        for name, service in services(compose).items()
        if variable in _environment(service)
    ]
    if variable in env:
        problems.append(f".env.example: sets {variable}")
    return problems


def base_image_problems(dockerfile_text: str) -> Problems:
    """The base image runs the Airflow version and a Python that uv.lock and pyproject.toml allow."""
    image = dockerfile_arg_default(dockerfile_text, "AIRFLOW_IMAGE")
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[0-9.]+)-python(?P<python>[0-9.]+)", image)
    if not match:
        return [f"base image {image!r} is not an official apache/airflow:<version>-python<version> tag"]
    locked = {
        package["name"]: package["version"] for package in tomllib.loads(UV_LOCK.read_text())["package"]
    }
    requires_python = SpecifierSet(tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"])
    problems = []
    if match["airflow"] != locked["apache-airflow"]:
        problems.append(
            f"base image runs Airflow {match['airflow']}, uv.lock pins {locked['apache-airflow']}"
        )
    if Version(match["python"]) not in requires_python:
        problems.append(f"base image runs Python {match['python']}, pyproject requires {requires_python}")
    return problems


# How Docker's pattern matcher reads the wildcards of a .dockerignore pattern.
DOCKERIGNORE_WILDCARDS = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether Docker leaves `path` out of the build context, by the rules of .dockerignore.

    As Docker's pattern matcher: the last matching pattern wins, `!` re-includes, a pattern matches a
    path or any of its parent folders, `*` and `?` stay within one folder and `**` spans folders.
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    excluded = False
    for raw in patterns:
        pattern = raw.removeprefix("!").strip("/")
        tokens = re.findall(r"\*\*/|\*\*|\*|\?|[^*?]+", pattern)
        regex = re.compile("".join(DOCKERIGNORE_WILDCARDS.get(token, re.escape(token)) for token in tokens))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not raw.startswith("!")
    return excluded


def build_context_problems(dockerfile_text: str, dockerignore_text: str) -> Problems:
    """The context holds every file the Dockerfile copies and none of the local secrets or data."""
    patterns = [
        line.strip() for line in dockerignore_text.splitlines() if line.strip() and not line.startswith("#")
    ]
    copied = [
        source
        for keyword, arguments in dockerfile_instructions(dockerfile_text)
        if keyword == "COPY" and "--from=" not in arguments
        for source in [word for word in arguments.split() if not word.startswith("--")][:-1]
    ]
    tracked = subprocess.run(
        ["git", "ls-files", "--", *copied], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    problems = [
        f"copied but left out of the build context: {path}"
        for path in tracked
        if dockerignore_excludes(patterns, path)
    ]
    problems += [
        f"sent to the builder: {path}"
        for path in KEPT_OUT_OF_THE_IMAGE
        if not dockerignore_excludes(patterns, path)
    ]
    return problems


# --- tests: the real files pass ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    return load_compose(compose_text)


@pytest.fixture(scope="module")
def dockerfile_text() -> str:
    return DOCKERFILE.read_text()


def test_compose_file_matches_the_compose_specification() -> None:
    assert schema_errors(COMPOSE_FILE) == []


def test_interpolated_compose_file_matches_the_compose_specification(compose: dict, tmp_path: Path) -> None:
    interpolated = tmp_path / "docker-compose.interpolated.yml"
    interpolated.write_text(yaml.safe_dump(interpolate(compose, filled_env())))
    assert schema_errors(interpolated) == []


def test_compose_refuses_to_start_until_every_secret_is_set(compose: dict) -> None:
    empty_in_example = {key for key, value in example_env().items() if not value}
    with pytest.raises(InterpolationError) as raised:
        interpolate(compose, example_env())
    reported = set(re.findall(r"([A-Z][A-Z0-9_]*) \(", str(raised.value)))
    assert reported == empty_in_example
    assert all(SECRET_NAME.search(name) for name in reported)


@pytest.mark.skipif(COMPOSE_BINARY is None, reason="docker-compose (Compose v2) is not installed")
@pytest.mark.parametrize(
    ("profiles", "expected"),
    [
        ("", set()),
        ("celery", CELERY_SERVICES),
        ("bi", {"bi-postgres"}),
        ("celery,bi", CELERY_SERVICES | {"bi-postgres"}),
    ],
)
def test_docker_compose_accepts_the_file(
    profiles: str, expected: set[str], compose: dict, tmp_path: Path
) -> None:
    """Where Compose is installed, its own `config` loads, interpolates and validates the project."""
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in filled_env().items()))

    def docker_compose(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [str(COMPOSE_BINARY), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
        return subprocess.run(
            [*command, "--env-file", str(env_file), *arguments],
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COMPOSE_PROFILES": profiles},
            capture_output=True,
            text=True,
            check=False,
        )

    checked = docker_compose("config", "--quiet")
    assert checked.returncode == 0, checked.stderr
    listed = docker_compose("config", "--services")
    always_on = {name for name, service in services(compose).items() if not service.get("profiles")}
    assert set(listed.stdout.split()) == always_on | expected

    env_file.write_text(ENV_EXAMPLE.read_text())
    refused = docker_compose("config", "--quiet")
    assert refused.returncode != 0
    assert "is missing a value: see .env.example" in refused.stderr


def test_interpolation_keeps_escaped_dollars_for_the_container_shell(compose: dict) -> None:
    interpolated = interpolate(compose, filled_env())
    healthcheck = services(interpolated)["airflow-dag-processor"]["healthcheck"]["test"]
    assert healthcheck[-1].endswith('--hostname "${HOSTNAME}"')


@pytest.mark.parametrize(
    ("check", "needs"),
    [
        (reference_problems, "compose"),
        (healthcheck_problems, "compose"),
        (init_dependency_problems, "compose"),
        (celery_profile_problems, "compose"),
        (mount_problems, "interpolated"),
        (init_script_problems, "compose"),
        (executor_problems, "text"),
        (secret_problems, "text"),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_compose_file_passes(
    check: Callable[[Any], Problems], needs: str, compose_text: str, compose: dict
) -> None:
    argument = {"compose": compose, "text": compose_text, "interpolated": interpolate(compose, filled_env())}[
        needs
    ]
    assert check(argument) == []


def test_env_example_documents_every_variable_and_holds_no_secret(compose_text: str) -> None:
    assert example_env_problems(compose_text, ENV_EXAMPLE.read_text()) == []


def test_every_documented_service_exists(compose: dict) -> None:
    assert documented_service_problems(compose, DEPLOYMENT_DOC.read_text()) == []


def test_image_installs_from_the_lock_file(dockerfile_text: str) -> None:
    assert dockerfile_install_problems(dockerfile_text) == []


def test_build_context_holds_the_code_and_no_secret_or_data(dockerfile_text: str) -> None:
    assert build_context_problems(dockerfile_text, DOCKERIGNORE.read_text()) == []


def test_nothing_is_installed_at_container_start(dockerfile_text: str, compose: dict) -> None:
    assert pip_additional_requirement_problems(dockerfile_text, compose, example_env()) == []


def test_base_image_matches_the_lock(dockerfile_text: str) -> None:
    assert base_image_problems(dockerfile_text) == []


@pytest.mark.skipif(UV is None, reason="uv is not installed (make venv bootstraps it)")
@pytest.mark.parametrize(
    "needed",
    [
        pytest.param(
            {"apache-airflow", "dbt-duckdb", "duckdb", "great-expectations", "splink", "pymc-marketing"},
            id="pipeline",
        ),
        pytest.param(
            {"psycopg2-binary", "asyncpg"},
            id="postgres-metadata",
        ),
        pytest.param(
            {"apache-airflow-providers-celery"},
            id="celery-profile",
        ),
    ],
)
def test_locked_image_has_what_the_deployment_runs(needed: set[str], dockerfile_text: str) -> None:
    """What the Dockerfile's `uv sync` installs, read from uv.lock by `uv export` with the same selection."""
    sync = dockerfile_uv_sync(dockerfile_text)
    selection = [
        argument for argument in sync if argument in {"--frozen", "--locked", "--no-dev", "--all-extras"}
    ]
    selection += [
        argument
        for flag, value in itertools.pairwise(sync)
        if flag in {"--extra", "--group", "--no-group", "--only-group"}
        for argument in (flag, value)
    ]
    result = subprocess.run(
        [UV, "export", *selection, "--no-hashes", "--no-emit-project", "--format", "requirements-txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    installed = {line.split("==")[0] for line in result.stdout.splitlines() if "==" in line}
    assert needed <= installed, f"missing from the image: {sorted(needed - installed)}"


# --- tests: broken copies fail ----------------------------------------------------------------------


def _break_text(text: str, old: str, new: str) -> str:
    assert old in text, f"the mutation needs {old!r} in the file"
    return text.replace(old, new, 1)


def _without(compose: dict, service: str, *path: str) -> dict:
    broken = copy.deepcopy(compose)
    node = broken["services"][service]
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return broken


def test_schema_check_rejects_a_broken_copy(compose_text: str, tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        _break_text(compose_text, "condition: service_completed_successfully", "condition: service_done")
    )
    assert schema_errors(broken), "check-jsonschema accepted an unknown depends_on condition"


def _undeclare_volume(compose: dict, volume: str) -> dict:
    broken = copy.deepcopy(compose)
    del broken["volumes"][volume]
    return broken


def _replace_in_init_script(compose: dict, old: str, new: str) -> dict:
    broken = copy.deepcopy(compose)
    command = broken["services"][INIT_SERVICE]["command"]
    command[-1] = _break_text(command[-1], old, new)
    return broken


@pytest.mark.parametrize(
    ("check", "breaking", "expected"),
    [
        pytest.param(
            reference_problems,
            lambda c: _undeclare_volume(c, "crm-data"),
            "volume 'crm-data' is not declared",
            id="undeclared-volume",
        ),
        pytest.param(
            healthcheck_problems,
            lambda c: _without(c, "airflow-triggerer", "healthcheck"),
            "airflow-triggerer: no healthcheck",
            id="no-healthcheck-triggerer",
        ),
        pytest.param(
            healthcheck_problems,
            lambda c: _without(c, "redis", "healthcheck"),
            "redis: no healthcheck",
            id="no-healthcheck-redis",
        ),
        pytest.param(
            init_dependency_problems,
            lambda c: _without(c, "airflow-scheduler", "depends_on", INIT_SERVICE),
            f"airflow-scheduler: does not wait for {INIT_SERVICE}",
            id="scheduler-ignores-init",
        ),
        pytest.param(
            celery_profile_problems,
            lambda c: _without(c, "flower", "profiles"),
            "flower: profiles are []",
            id="flower-always-on",
        ),
        pytest.param(
            celery_profile_problems,
            lambda c: _without(c, "airflow-apiserver", "depends_on", "redis", "required"),
            "requires redis",
            id="apiserver-requires-redis",
        ),
        pytest.param(
            mount_problems,
            lambda c: _without(c, "airflow-worker", "volumes"),
            "airflow-worker: ./dags is not mounted read-only",
            id="worker-without-mounts",
        ),
        pytest.param(
            mount_problems,
            lambda c: _without(c, "airflow-scheduler", "environment", "CRM_EXPECTATIONS_DIR"),
            "airflow-scheduler: CRM_EXPECTATIONS_DIR is not the mounted ./expectations",
            id="expectations-dir-unset",
        ),
        pytest.param(
            init_script_problems,
            lambda c: _without(c, INIT_SERVICE, "environment", "_AIRFLOW_DB_MIGRATE"),
            "_AIRFLOW_DB_MIGRATE is not true",
            id="init-without-migration",
        ),
        pytest.param(
            init_script_problems,
            lambda c: _replace_in_init_script(
                c, f"pools set {DUCKDB_POOL} 1 ", f"pools set {DUCKDB_POOL} 4 "
            ),
            f"does not create pool {DUCKDB_POOL} with 1 slot",
            id="pool-with-4-slots",
        ),
    ],
)
def test_check_fails_on_a_broken_copy(
    check: Callable[[dict], Problems], breaking: Callable[[dict], dict], expected: str, compose: dict
) -> None:
    broken = breaking(compose)
    if check is mount_problems:
        broken = interpolate(broken, filled_env())
    problems = check(broken)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("${POSTGRES_PASSWORD:?see .env.example}@postgres", "airflow@postgres", "password written in a URL"),
        (
            "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?see .env.example}",
            "POSTGRES_PASSWORD: airflow",
            "POSTGRES_PASSWORD is not taken",
        ),
        (
            "${AIRFLOW_JWT_SECRET:?see .env.example}",
            "${AIRFLOW_JWT_SECRET:-airflow_jwt_secret}",
            "must be required",
        ),
        (
            '"--requirepass", "${REDIS_PASSWORD:?see .env.example}"',
            '"--requirepass", "redis"',
            "--requirepass given literally",
        ),
    ],
)
def test_secret_check_fails_on_a_literal_secret(old: str, new: str, expected: str, compose_text: str) -> None:
    problems = secret_problems(_break_text(compose_text, old, new))
    assert any(expected in problem for problem in problems), problems


def test_executor_check_fails_when_the_executor_is_fixed(compose_text: str) -> None:
    broken = _break_text(compose_text, "${AIRFLOW_EXECUTOR:-LocalExecutor}", "LocalExecutor")
    assert any("expected CeleryExecutor" in problem for problem in executor_problems(broken))


def test_env_example_check_fails_on_a_secret_value_or_an_undocumented_variable(compose_text: str) -> None:
    env_text = ENV_EXAMPLE.read_text()
    with_secret = _break_text(env_text, "\nPOSTGRES_PASSWORD=\n", "\nPOSTGRES_PASSWORD=airflow\n")
    assert any("POSTGRES_PASSWORD has a value" in p for p in example_env_problems(compose_text, with_secret))
    undocumented = compose_text + "\nx-extra: ${CRM_UNDOCUMENTED_SETTING:-1}\n"
    assert any("CRM_UNDOCUMENTED_SETTING" in p for p in example_env_problems(undocumented, env_text))


def test_documented_service_check_fails_on_a_stale_table(compose: dict) -> None:
    doc = DEPLOYMENT_DOC.read_text()
    stale = re.sub(
        r"^(\| `airflow-triggerer` \|)", r"| `airflow-webserver` |", doc, count=1, flags=re.MULTILINE
    )
    problems = documented_service_problems(compose, stale)
    assert "airflow-webserver: in docs/deployment.md, not in docker-compose.yml" in problems
    assert "airflow-triggerer: in docker-compose.yml, not in docs/deployment.md" in problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("uv sync --frozen", "uv sync", "without --frozen or --locked"),
        (
            "COPY --chown=airflow:0 pyproject.toml uv.lock ./",
            "COPY --chown=airflow:0 pyproject.toml ./",
            "uv.lock is not copied",
        ),
        (
            "uv sync --frozen --no-dev --all-extras --no-install-project",
            "pip install --no-deps -r requirements.txt && true",
            "installs outside the lock",
        ),
        ("uv sync --frozen --no-dev", "uv sync --frozen", "dev group"),
        ("--no-dev --all-extras", "--no-dev --extra postgres", "without --all-extras"),
    ],
)
def test_install_check_fails_without_the_lock(
    old: str, new: str, expected: str, dockerfile_text: str
) -> None:
    problems = dockerfile_install_problems(_break_text(dockerfile_text, old, new))
    assert any(expected in problem for problem in problems), problems


def test_pip_additional_requirements_check_fails_when_set(dockerfile_text: str, compose: dict) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["airflow-worker"]["environment"]["_PIP_ADDITIONAL_REQUIREMENTS"] = "dbt-duckdb"
    assert pip_additional_requirement_problems(dockerfile_text, broken, example_env()) == [
        "docker-compose.yml: airflow-worker sets _PIP_ADDITIONAL_REQUIREMENTS"
    ]
    broken_dockerfile = dockerfile_text + "\nENV _PIP_ADDITIONAL_REQUIREMENTS=dbt-duckdb\n"
    assert pip_additional_requirement_problems(broken_dockerfile, compose, example_env()) == [
        "Dockerfile: ENV _PIP_ADDITIONAL_REQUIREMENTS=dbt-duckdb"
    ]


def test_base_image_check_fails_on_another_airflow_version(dockerfile_text: str) -> None:
    broken = _break_text(
        dockerfile_text, "apache/airflow:3.3.2-python3.11", "apache/airflow:3.2.0-python3.11"
    )
    assert any("uv.lock pins" in problem for problem in base_image_problems(broken))


def test_build_context_check_fails_without_the_allow_list(dockerfile_text: str) -> None:
    permissive = _break_text(DOCKERIGNORE.read_text(), "\n*\n", "\n")
    assert "sent to the builder: .env" in build_context_problems(dockerfile_text, permissive)
    strict = DOCKERIGNORE.read_text() + "\ndags/crm\n"
    assert any(
        problem.startswith("copied but left out of the build context: dags/crm/")
        for problem in build_context_problems(dockerfile_text, strict)
    )
