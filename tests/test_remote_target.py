"""A target reached by its URL alone (no --launch, no --pid), as one on another host is: what is
not seen is said, never read as zero; and --metrics-url, whose Prometheus expositions stand in for
the process sampler. The expositions are real ones, served by prometheus_client in a test app."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from profiler.base.config import free_port
from profiler.base.errors import SamplerUnavailable
from profiler.runfolder.records import MetricsTree
from profiler.sampling.metrics import (
    STALE_AFTER_S,
    Figures,
    Reading,
    check_sources,
    combine,
    figures,
    parse_exposition,
    read_exposition,
)
from tests.conftest import APPS, assert_no_traceback, read_report, run_cli, stage_figures

APP = APPS / "servers" / "metrics_app.py"

NODE = """\
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 100
node_cpu_seconds_total{cpu="0",mode="user"} 10
node_cpu_seconds_total{cpu="0",mode="iowait"} 5
node_cpu_seconds_total{cpu="1",mode="idle"} 90
node_cpu_seconds_total{cpu="1",mode="system"} 20
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 8e+09
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 6e+09
"""
DCGM = """\
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b"} 40
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a"} 75
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a"} 2048
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a"} 6144
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a"} 212.5
"""


# -- the mapping, on expositions written by hand --------------------------------------------------


def test_process_figures_of_several_series_are_summed() -> None:
    text = (
        "# TYPE process_cpu_seconds_total counter\n"
        'process_cpu_seconds_total{pid="1"} 1.5\nprocess_cpu_seconds_total{pid="2"} 2.5\n'
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 3e+07\n"
        "# TYPE go_threads gauge\ngo_threads 12\n"
    )
    r = parse_exposition(text, 10.0, 0)
    assert (r.cpu_s, r.rss, r.threads, r.host_total_s, r.gpus) == (4.0, 3e7, 12.0, None, ())
    assert r.kinds == ("process",)


def test_node_exporter_gives_the_host_cpu_and_memory() -> None:
    r = parse_exposition(NODE, 0.0, 0)
    # busy: every mode but idle and iowait (10 user + 20 system); the total counts every mode
    assert (r.host_busy_s, r.host_total_s, r.host_ncpu, r.host_mem_used) == (30.0, 225.0, 2, 2e9)
    assert r.kinds == ("host",)


def test_dcgm_gpus_come_in_nvml_units_and_device_order() -> None:
    gpus = parse_exposition(DCGM, 0.0, 0).gpus
    assert [g["index"] for g in gpus] == [0, 1]
    first = gpus[0]
    assert first["util_gpu"] == 75 and first["power_w"] == 212.5
    assert first["mem_used"] == 2048 * 2**20 and first["mem_total"] == 8192 * 2**20  # MiB -> bytes, used + free
    assert first["proc_mem"] is None  # an exporter does not say which process holds it


def test_nvidia_smi_exporter_ratios_become_percent() -> None:
    text = '# TYPE nvidia_smi_utilization_gpu_ratio gauge\nnvidia_smi_utilization_gpu_ratio{uuid="x"} 0.42\n'
    assert parse_exposition(text, 0.0, 0).gpus[0]["util_gpu"] == pytest.approx(42.0)


def test_counters_become_rates_between_two_readings() -> None:
    before = Reading(t=100.0, source=0, cpu_s=1.0, host_busy_s=2.0, host_total_s=8.0, host_ncpu=4)
    after = Reading(t=102.0, source=0, cpu_s=2.5, host_busy_s=5.0, host_total_s=16.0, host_ncpu=4)
    f = figures(after, before)
    assert f.cpu_pct == pytest.approx(75.0)  # 1.5 CPU-seconds over 2 s
    assert f.host_cpu_pct == pytest.approx(150.0)  # 3 of 8 core-seconds busy on 4 cores: 1.5 cores
    assert figures(before, None).cpu_pct is None  # one reading has no rate
    restarted = Reading(t=103.0, source=0, cpu_s=0.1)
    assert figures(restarted, after).cpu_pct is None  # a counter that went back: the exporter restarted


def _figures(t: float, cpu: float | None = None, rss: float | None = None, host: float | None = None) -> Figures:
    """A source's figures at `t`: a process at `cpu` % over the second before, or a host at `host` %."""
    before = Reading(t=t - 1, source=0, cpu_s=0.0 if cpu is not None else None)
    now = Reading(t=t, source=0, cpu_s=cpu / 100 if cpu is not None else None, rss=rss)
    return replace(figures(now, before), host_cpu_pct=host)


def test_the_processes_figures_win_over_the_hosts_and_stale_ones_stand_for_nothing() -> None:
    app_a, app_b, node = _figures(50.0, cpu=60, rss=1e8), _figures(50.0, cpu=30, rss=2e8), _figures(50.0, host=250)
    tree = combine([app_a, app_b, node], now=50.5)
    assert tree == MetricsTree(cpu=90.0, rss=300_000_000, procs=2, source="process", busiest=60.0)
    host_only = combine([node], now=50.5)
    assert host_only is not None and (host_only.cpu, host_only.source, host_only.busiest) == (250.0, "host", None)
    assert combine([app_a], now=50.0 + STALE_AFTER_S + 0.1) is None  # a dead exporter is not an idle target


# -- reading a URL ---------------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[dict[str, object]]:
    """A plain HTTP server whose answer each test sets: (status, body), and the last request's headers."""
    state: dict[str, object] = {"status": 200, "body": NODE.encode()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state["headers"] = dict(self.headers)
            body = state["body"]
            assert isinstance(body, bytes)
            self.send_response(int(str(state["status"])))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    yield state
    server.shutdown()


def test_a_url_that_answers_an_exposition_is_read_with_its_credentials_sent_not_shown(served: dict) -> None:  # type: ignore[type-arg]
    url = str(served["url"]).replace("http://", "http://scraper:s3cret@")
    reading = read_exposition(url, 0)
    assert reading.host_ncpu == 2
    assert served["headers"]["Authorization"] == "Basic c2NyYXBlcjpzM2NyZXQ="  # type: ignore[index]
    served["status"] = 503
    with pytest.raises(SamplerUnavailable) as failed:
        read_exposition(url, 0)
    assert "HTTP 503" in str(failed.value) and "s3cret" not in str(failed.value)


def test_a_page_that_is_no_exposition_and_one_with_nothing_mapped_are_told_apart(served: dict) -> None:  # type: ignore[type-arg]
    served["body"] = b"<html><body>Grafana</body></html>"
    with pytest.raises(SamplerUnavailable, match="not a Prometheus exposition"):
        read_exposition(str(served["url"]), 0)
    served["body"] = b"# TYPE http_requests_total counter\nhttp_requests_total 12\n"
    (notice,) = check_sources([str(served["url"])])
    assert "stands in for nothing" in notice


def test_a_port_nobody_listens_on_is_one_clear_failure() -> None:
    with socket.socket() as s:  # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SamplerUnavailable, match="could not be read"):
        read_exposition(f"http://127.0.0.1:{port}/metrics", 0)


# -- through the real pipeline -------------------------------------------------------------------


def _wait_up(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the test app never listened on {port}")


def _run_folder_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_target_reached_by_its_url_alone_is_said_unknown_not_idle(tmp_path: Path, started_app) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    started_app(APP, port)
    _wait_up(port)
    folder = tmp_path / "run"
    result = run_cli("run", f"http://127.0.0.1:{port}/cpu", "--users", "1,4", "--duration", "6s", "--out", str(folder))
    assert_no_traceback(result)
    assert result.code == 0, result.output
    assert "not on this machine" in result.output
    report = read_report(folder)
    assert report["resources"]["target_source"] is None and report["resources"]["target"] is None
    assert all(s["target_cpu_pct"] is None and s["target_rss_mb"] is None for s in report["load"]["stages"])
    assert "target-not-observed" in {i["id"] for i in report["validity"]["issues"]}
    assert not {"cpu-bound", "io-bound", "memory-growth"} & {t["id"] for t in report["traits"]}
    samples = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert samples and all("target" not in s for s in samples)  # absent, never a zero
    assert not (folder / "pyspy").exists() or not any((folder / "pyspy").iterdir())
    assert report["resources"]["gpu"]["available"] is False  # this machine's GPUs are not the target's


@pytest.mark.slow
def test_metrics_url_stands_in_for_the_process_sampler(tmp_path: Path, started_app) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    started_app(APP, port)
    _wait_up(port)
    folder = tmp_path / "run"
    secret_url = f"http://scraper:s3cret@127.0.0.1:{port}/metrics/"
    result = run_cli(
        "run", f"http://127.0.0.1:{port}/cpu", "--users", "1,4,8", "--duration", "8s", "--out", str(folder),
        "--metrics-url", secret_url, "--metrics-url", f"http://127.0.0.1:{port}/dcgm/metrics/",
        timeout=180,
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(folder)
    resources = report["resources"]
    assert resources["target_source"] == "metrics-process"
    assert [m["kinds"] for m in resources["metrics"]] == [["process"], ["gpu"]]
    assert all(m["readings"] >= 5 and m["failures"] == 0 for m in resources["metrics"])
    stages = report["load"]["stages"]
    # /cpu burns CPU on one event loop: the exposition's process CPU says it was near a full core
    assert stages[-1]["target_cpu_pct"] >= 60 and stages[-1]["target_rss_mb"] > 10
    assert "cpu-bound" in {t["id"] for t in report["traits"]}, stage_figures(report)
    gpu = resources["gpu"]
    assert gpu["available"] is True and gpu["per_stage"]
    assert all(row["mem_used_max_mb"] == pytest.approx(1000, abs=20) for row in gpu["per_stage"])  # MiB, mapped
    assert resources["target"]["threads_max"] is None  # not in a Python exposition: not known, not zero
    readings = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert any("cpu_s" in r for r in readings) and any("gpus" in r for r in readings)
    assert "s3cret" not in _run_folder_text(folder) and "s3cret" not in result.output


@pytest.mark.slow
def test_a_launched_app_keeps_its_process_figures_and_gets_its_gpu_from_an_exporter(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    result = run_cli(
        "run", "http://127.0.0.1:{port}/gpu", "--launch", f"python {APP} --port {{port}}",
        "--users", "1,4", "--duration", "6s", "--no-pyspy", "--out", str(folder),
        "--metrics-url", "http://127.0.0.1:{port}/dcgm/metrics/",
        timeout=180,
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    resources = read_report(folder)["resources"]
    assert resources["target_source"] == "processes" and resources["target"]["threads_max"] > 0
    by_stage = {row["stage"]: row for row in resources["gpu"]["per_stage"]}
    # 25 % per /gpu request in flight: four users keep more of it busy than one
    assert by_stage[1]["util_gpu_mean"] > by_stage[0]["util_gpu_mean"] > 0


def test_a_metrics_url_that_cannot_be_read_stops_the_run_before_any_load(tmp_path: Path, started_app) -> None:  # type: ignore[no-untyped-def]
    port, dead = free_port(), free_port()
    started_app(APP, port)
    _wait_up(port)
    folder = tmp_path / "run"
    result = run_cli(
        "run", f"http://127.0.0.1:{port}/cpu", "--users", "1", "--duration", "5s", "--out", str(folder),
        "--metrics-url", f"http://127.0.0.1:{dead}/metrics",
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 2, result.output
    (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "--metrics-url" in line and "could not be read" in line
    assert not (folder / "requests.csv").exists() or len((folder / "requests.csv").read_text().splitlines()) <= 1
