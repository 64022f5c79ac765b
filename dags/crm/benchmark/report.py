"""Write the benchmark results as markdown (``docs/benchmarks.md``) and as JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
from pathlib import Path

from crm.benchmark.harness import (
    STAGE_DBT_FULL,
    STAGE_INCREMENTAL,
    STAGE_INGEST,
    STAGE_LOWER,
    STAGE_PEER,
    STAGE_RFM_PATH,
    STAGE_RFM_RAW_LOWER,
    BenchmarkConfig,
    SizeResult,
)
from crm.benchmark.measure import Summary

GIB = 1024**3
TARGET_INGEST_ROWS_S = 200_000
TARGET_INGEST_RSS = 4 * GIB
TARGET_DBT_FULL_S = 60.0
TARGET_INCREMENTAL_SHARE = 0.15


def machine() -> dict[str, str]:
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kib / 1024**2:.1f} GiB",
        "load": load,
        "python": platform.python_version(),
    }


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB"


def _rows_per_s(result: SizeResult, stage: str, summary: Summary) -> str:
    rows = result.dataset.total_rows if stage == STAGE_INGEST else result.dataset.rows["sales"]
    return f"{rows / summary.wall_median_s:,.0f}"


def size_table(result: SizeResult) -> list[str]:
    lower = result.stages.get(STAGE_LOWER)
    peer = result.stages.get(STAGE_PEER)
    lines = [
        "| stage | median s | spread (min–max) s | CPU s | rows/s | peak RSS | × lower bound | × pandas |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stage, s in result.stages.items():
        ratio_lower = f"{s.wall_median_s / lower.wall_median_s:.1f}" if lower else "–"
        ratio_peer = f"{s.wall_median_s / peer.wall_median_s:.2f}" if peer else "–"
        lines.append(
            f"| {stage} | {s.wall_median_s:.1f} | {s.wall_min_s:.1f}–{s.wall_max_s:.1f} | "
            f"{s.cpu_median_s:.1f} | {_rows_per_s(result, stage, s)} | {_mib(s.peak_rss_bytes)} | "
            f"{ratio_lower} | {ratio_peer} |"
        )
    for stage, reason in result.failures.items():
        lines.append(f"| {stage} | failed: {reason} | | | | | | |")
    return lines


def targets(result: SizeResult) -> list[str]:
    st = result.stages
    out = [f"Against the issue's targets (set for 10,000,000 lines), at {result.dataset.size:,} lines:", ""]
    if STAGE_INGEST in st:
        ing = st[STAGE_INGEST]
        rate = result.dataset.total_rows / ing.wall_median_s
        out.append(
            f"- ingestion {rate:,.0f} rows/s (target ≥ {TARGET_INGEST_ROWS_S:,}): "
            f"{'met' if rate >= TARGET_INGEST_ROWS_S else 'not met'}; peak RSS {_mib(ing.peak_rss_bytes)} "
            f"(target < 4 GiB): {'met' if ing.peak_rss_bytes < TARGET_INGEST_RSS else 'not met'}"
        )
    if STAGE_DBT_FULL in st:
        full = st[STAGE_DBT_FULL].wall_median_s
        out.append(
            f"- full `dbt build` {full:.1f} s (target ≤ {TARGET_DBT_FULL_S:.0f} s): "
            f"{'met' if full <= TARGET_DBT_FULL_S else 'not met'}"
        )
    if {STAGE_INGEST, STAGE_DBT_FULL, STAGE_INCREMENTAL} <= st.keys():
        full_run = st[STAGE_INGEST].wall_median_s + st[STAGE_DBT_FULL].wall_median_s
        inc = st[STAGE_INCREMENTAL].wall_median_s
        share = inc / full_run
        line = (
            f"- incremental run {inc:.1f} s = {share:.0%} of the full run "
            f"(ingestion + full build, {full_run:.1f} s; target ≤ 15%): "
            f"{'met' if share <= TARGET_INCREMENTAL_SHARE else 'not met'}"
        )
        if STAGE_PEER in st:
            peer = st[STAGE_PEER].wall_median_s
            line += f"; vs the pandas peer's {peer:.1f} s: {'faster' if inc < peer else 'slower'}"
        out.append(line)
    if STAGE_PEER in st:
        out.append(memory_target(st))
    if {STAGE_RFM_PATH, STAGE_RFM_RAW_LOWER} <= st.keys():
        path, lower = st[STAGE_RFM_PATH].wall_median_s, st[STAGE_RFM_RAW_LOWER].wall_median_s
        out.append(
            f"- RFM path inside the warehouse (`dbt run` staging -> `customer_rfm`, identity resolution "
            f"included) {path:.1f} s = {path / lower:.1f}× the lower-bound statement on `raw.sales` "
            f"({lower:.1f} s; target ≤ 2×): {'met' if path <= 2 * lower else 'not met'}"
        )
    return out


#: The two references are yardsticks run next to the pipeline, not stages of it.
REFERENCE_STAGES = (STAGE_PEER, STAGE_LOWER, STAGE_RFM_RAW_LOWER)


def memory_target(stages: dict[str, Summary]) -> str:
    """Whether every pipeline stage peaked below the pandas peer; the references' peaks are shown."""
    peer_rss = stages[STAGE_PEER].peak_rss_bytes
    pipeline = {name: s for name, s in stages.items() if name not in REFERENCE_STAGES}
    above = [name for name, s in pipeline.items() if s.peak_rss_bytes >= peer_rss]
    line = f"- peak RSS below the pandas peer's ({_mib(peer_rss)}) in every pipeline stage: " + (
        ("met" if not above else "not met (" + ", ".join(above) + ")") if pipeline else "no stage measured"
    )
    references = [
        f"{name} {_mib(stages[name].peak_rss_bytes)}"
        for name in (STAGE_LOWER, STAGE_RFM_RAW_LOWER)
        if name in stages
    ]
    if references:
        line += "; the DuckDB references, not pipeline stages, peaked at " + ", ".join(references)
    return line


def agreement_lines(result: SizeResult) -> list[str]:
    lines = ["| comparison | grain | compared | only left | only right | differing rows | agrees |"]
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for a in result.agreements:
        lines.append(
            f"| {a.label} | {a.grain} | {a.compared:,} | {a.only_left} | {a.only_right} | "
            f"{a.differing_rows} | {'yes' if a.agrees else 'NO'} |"
        )
    for a in result.agreements:
        if not a.agrees:
            lines += ["", f"{a.label}: differing columns {a.differing_by_column}; e.g. {a.examples[:5]}"]
    return lines


def profile_lines(result: SizeResult) -> list[str]:
    profile = result.profile
    if profile is None:
        return []
    lines = [
        f"### Ingestion profile ({result.dataset.size:,} sales lines, cProfile, {profile.total_s:.1f} s "
        "profiled)",
        "",
        "Cumulative time per ingestion step (steps nest: GX validation includes its own set-up of each "
        "batch):",
        "",
        "| step | cumulative s | share |",
        "| --- | ---: | ---: |",
        *(f"| {step} | {sec:.1f} | {sec / profile.total_s:.0%} |" for step, sec in profile.steps),
        "",
        "Own time by area:",
        "",
        "| area | own s | share |",
        "| --- | ---: | ---: |",
    ]
    for area, seconds in profile.areas[:10]:
        lines.append(f"| {area} | {seconds:.1f} | {seconds / profile.total_s:.0%} |")
    lines += ["", "Top functions by own time:", "", "| function | own s | cumulative s |"]
    lines.append("| --- | ---: | ---: |")
    for h in profile.hotspots:
        lines.append(f"| `{h.function}` | {h.own_s:.2f} | {h.cumulative_s:.2f} |")
    return lines


#: Critical-path nodes shorter than this are summed into one line of the report.
PATH_NODE_MIN_S = 0.5


def dbt_profile_lines(result: SizeResult) -> list[str]:
    """Per dbt stage: thread time, the costliest nodes and the critical path (crm.benchmark.dbt_nodes)."""
    if not result.dbt_profiles:
        return []
    lines = [
        f"### Where the dbt runs spend their time ({result.dataset.size:,} sales lines, first repetition)",
        "",
        "Thread time is the sum of the nodes' run times over dbt's threads; the critical path is the chain",
        "of nodes, each waiting for the one before it (a parent or a parent's test), that ends with the",
        "last node to finish; its waiting is time the path spent queued for a thread or in dbt itself.",
    ]
    for stage, prof in result.dbt_profiles.items():
        threads = ", ".join(f"{kind} {sec:.1f} s" for kind, sec in prof.thread_s.items())
        path_s = sum(n.seconds for n in prof.critical_path)
        lines += [
            "",
            f"**{stage}**: {prof.elapsed_s:.1f} s elapsed in dbt, {prof.nodes} nodes; thread time {threads}; "
            f"{prof.small_tests} tests under 0.3 s took {prof.small_tests_s:.1f} s together.",
            "",
            "| costliest nodes | s |",
            "| --- | ---: |",
            *(f"| {n.name} | {n.seconds:.1f} |" for n in prof.costliest),
            "",
            f"Critical path: {path_s:.1f} s in {len(prof.critical_path)} nodes + "
            f"{prof.critical_path_waiting_s:.1f} s waiting:",
            "",
        ]
        long_nodes = [n for n in prof.critical_path if n.seconds >= PATH_NODE_MIN_S]
        short = [n for n in prof.critical_path if n.seconds < PATH_NODE_MIN_S]
        chain = " → ".join(f"{n.name} {n.seconds:.1f}" for n in long_nodes)
        lines.append(f"{chain} (+ {len(short)} shorter nodes, {sum(n.seconds for n in short):.1f} s)")
    return lines


def render(config: BenchmarkConfig, results: list[SizeResult], intro: str, host: dict[str, str]) -> str:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    airflow_reps = config.repetitions if config.airflow_repetitions is None else config.airflow_repetitions
    out = [
        intro.rstrip(),
        "",
        "## Latest run",
        "",
        f"- date: {today}",
        f"- machine: {host['cores']} cores ({host['cpu']}), {host['memory']} memory, Python {host['python']}",
        f"- load average at the end of the run: {host['load']}",
        f"- repetitions per stage: {config.repetitions} (Airflow stage: {airflow_reps}); "
        f"sizes: {', '.join(f'{s:,}' for s in config.sizes)}",
    ]
    for result in results:
        d = result.dataset
        out += [
            "",
            f"### {d.size:,} sales lines",
            "",
            f"Input: {d.rows['sales']:,} sales lines ({d.sales_bytes / 1024**2:,.1f} MiB of CSV), "
            f"{d.rows['questionnaires']:,} questionnaire responses, {d.rows['reply_cards']:,} reply cards; "
            f"the incremental file adds {len(d.append_files)} sales file(s) (1%).",
            "",
            *size_table(result),
            "",
            *agreement_lines(result),
            "",
            *targets(result),
        ]
        if result.incremental_parts:
            parts = ", ".join(f"{k} {s.wall_median_s:.1f} s" for k, s in result.incremental_parts.items())
            out += ["", f"Incremental run parts (median): {parts}."]
        if result.dbt_profiles:
            out += ["", *dbt_profile_lines(result)]
        if result.profile is not None:
            out += ["", *profile_lines(result)]
    return "\n".join(out) + "\n"


def to_json(results: list[SizeResult]) -> str:
    def default(value: object) -> object:
        if isinstance(value, Path):
            return str(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        raise TypeError(f"not serialisable: {type(value).__name__}")

    return json.dumps([dataclasses.asdict(r) for r in results], default=default, indent=2)
