"""The serving shape from a process tree: command lines as the sampler records them from real
servers (gunicorn, uvicorn --workers, node, nginx), and the CPU limit from cgroup files."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.analysis.figures.server import infer_server, option, program, server_line
from profiler.base.secrets import MASK, mask_argv
from profiler.runfolder.engine import ProcessFigures
from profiler.runfolder.meta import CpuLimit
from profiler.runfolder.records import ProcessInfo
from profiler.sampling.cpulimit import cgroup_quota

PY = "/usr/bin/python3.11"
VENV = "/venv/bin/python3"


def proc(pid: int, ppid: int, *argv: str, name: str = "python3", exe: str = PY, t: float = 0.0) -> ProcessInfo:
    return ProcessInfo(pid, ppid, name, exe, tuple(argv), t)


def gunicorn(*args: str, workers: int = 2) -> list[ProcessInfo]:
    argv = (VENV, "/venv/bin/gunicorn", *args, "app:app")
    return [proc(10, 1, *argv, name="gunicorn")] + [
        proc(11 + i, 10, *argv, name="gunicorn", t=1.0) for i in range(workers)
    ]


def figures(cpu: dict[int, float], threads: int = 1) -> list[ProcessFigures]:
    return [ProcessFigures(pid, c, threads) for pid, c in cpu.items()]


def test_gunicorn_sync_workers_are_a_pool_of_one_slot_each() -> None:
    s = infer_server(gunicorn("-w", "2"), figures({10: 0.5, 11: 30.0, 12: 28.0}), CpuLimit(machine=2), 10)
    assert (s.server, s.worker_class, s.model, s.language) == ("gunicorn", "sync", "sync-pool", "python")
    assert (s.workers, s.threads_per_worker, s.slots, s.master_pid) == (2, 1, 2, 10)
    assert s.busiest_pid == 11 and s.busiest_process == "gunicorn (pid 11)"
    assert server_line(s) == "gunicorn, 2 sync workers x 1 thread, Python, 2 cores available"


def test_gunicorn_threads_make_a_gthread_pool() -> None:
    s = infer_server(gunicorn("-w", "2", "--threads", "4"), [], CpuLimit(machine=4), 10)
    assert (s.worker_class, s.model, s.threads_per_worker, s.slots) == ("gthread", "threaded-pool", 4, 8)
    s = infer_server(gunicorn("-k", "gthread", "--workers=3", workers=3), [], None, 10)
    assert (s.worker_class, s.threads_per_worker, s.slots, s.workers) == ("gthread", 1, 3, 3)


def test_gunicorn_async_worker_class_is_an_event_loop_without_slots() -> None:
    s = infer_server(gunicorn("-k", "uvicorn.workers.UvicornWorker", "-w", "4", workers=4), [], None, 10)
    assert (s.worker_class, s.model, s.slots, s.workers) == ("uvicorn", "event-loop", None, 4)


def test_uvicorn_workers_skip_the_resource_tracker() -> None:
    tree = [
        proc(20, 1, VENV, "/venv/bin/uvicorn", "app:app", "--workers", "2", name="uvicorn"),
        proc(21, 20, VENV, "-B", "-c", "from multiprocessing.resource_tracker import main;main(6)"),
        proc(22, 20, VENV, "-B", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=7)"),
        proc(23, 20, VENV, "-B", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=7)"),
    ]
    s = infer_server(tree, figures({20: 0.1, 21: 0.0, 22: 90.0, 23: 95.0}), CpuLimit(machine=2), 20)
    assert (s.server, s.model, s.workers, s.worker_pids, s.helper_pids) == ("uvicorn", "event-loop", 2, [22, 23], [21])
    assert s.busiest_pid == 23 and s.slots is None


def test_single_uvicorn_process_is_its_own_worker() -> None:
    s = infer_server([proc(30, 1, VENV, "-m", "uvicorn", "app:app")], [], CpuLimit(machine=2), 30)
    assert (s.server, s.workers, s.master_pid, s.worker_pids) == ("uvicorn", 1, None, [30])


@pytest.mark.parametrize(
    ("tree", "server"),
    [
        ([proc(40, 1, "node", "server.js", name="node", exe="/usr/bin/node")], "node"),
        (
            [
                proc(50, 1, "nginx: master process nginx -c /tmp/n.conf", name="nginx", exe="/usr/sbin/nginx"),
                proc(51, 50, "nginx: worker process", name="nginx", exe="/usr/sbin/nginx"),
            ],
            "nginx",
        ),
    ],
)
def test_native_servers_are_not_python(tree: list[ProcessInfo], server: str) -> None:
    s = infer_server(tree, [], CpuLimit(machine=2), tree[0].pid)
    assert (s.server, s.language, s.model) == (server, "other", "event-loop")
    assert "not Python" in server_line(s)


def test_an_unknown_python_server_stays_unknown_unless_py_spy_saw_a_loop() -> None:
    tree = [proc(60, 1, PY, "serve.py")]
    assert infer_server(tree, [], None, 60).model == "unknown"
    assert infer_server(tree, [], None, 60, asyncio_seen=True).model == "event-loop"


def test_options_in_every_spelling() -> None:
    assert option(["-w", "3"], "-w", "--workers") == "3"
    assert option(["--workers=5"], "-w", "--workers") == "5"
    assert option(["-w4"], "-w", "--workers") == "4"
    assert option(["app:app"], "-w", "--workers") is None
    assert program(proc(1, 0, PY, "-u", "-m", "hypercorn.asyncio", "app")) == "hypercorn"


def test_cgroup_v2_quota_of_the_nearest_ancestor(tmp_path: Path) -> None:
    (tmp_path / "kube" / "pod").mkdir(parents=True)
    (tmp_path / "kube" / "cpu.max").write_text("200000 100000\n")
    (tmp_path / "kube" / "pod" / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota("0::/kube/pod\n", tmp_path) == (2.0, str(tmp_path / "kube" / "cpu.max"))
    assert cgroup_quota("0::/\n", tmp_path) is None


def test_cgroup_v1_quota_and_no_quota(tmp_path: Path) -> None:
    cpu = tmp_path / "cpu,cpuacct" / "docker" / "abc"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("150000\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota("4:cpu,cpuacct:/docker/abc\n", tmp_path) == (1.5, str(cpu / "cpu.cfs_quota_us"))
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota("4:cpu,cpuacct:/docker/abc\n", tmp_path) is None


def test_cores_available_take_the_quota_over_the_host() -> None:
    limit = CpuLimit(machine=32, affinity=32, quota=2.0, quota_source="/sys/fs/cgroup/cpu.max")
    s = infer_server([proc(1, 0, PY, "app.py")], [], limit, 1)
    assert s.cores_available == 2.0 and s.cores_source is not None and "cgroup" in s.cores_source


def test_secrets_in_command_lines_are_masked() -> None:
    argv = ["app", "--api-key", "sk-1", "--token=abc", "DB_PASSWORD=pw", "postgres://u:pw@h/db", "--workers", "2"]
    assert mask_argv(argv) == (
        "app",
        "--api-key",
        MASK,
        f"--token={MASK}",
        f"DB_PASSWORD={MASK}",
        f"postgres://u:{MASK}@h/db",
        "--workers",
        "2",
    )
