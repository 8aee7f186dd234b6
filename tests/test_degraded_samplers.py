"""Samplers the machine cannot give degrade to one-line notices; the run itself completes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from profiler.base.config import free_port
from tests.conftest import BASIC_APP, ROOT, launch_args, read_report, run_cli

pytestmark = pytest.mark.slow


def _has_gpu() -> bool:
    from profiler.base.errors import GpuUnavailable
    from profiler.sampling.gpu import open_gpu_backend

    try:
        open_gpu_backend().close()
    except GpuUnavailable:
        return False
    return True


@pytest.mark.skipif(_has_gpu(), reason="this machine has a GPU; the no-GPU path is checked where there is none")
def test_run_without_gpu_or_rapl_completes_with_notices(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli(
        "run", *launch_args(BASIC_APP, "/fast"), "--users", "2", "--duration", "2", "--out", str(out), "--no-pyspy"
    )
    assert result.code == 0, result.output
    report = read_report(out)
    gpu = report["resources"]["gpu"]
    assert gpu["available"] is False and gpu["notice"].startswith("GPU: none found")
    assert not {"gpu-bound", "gpu-underutilized"} & {t["id"] for t in report["traits"]}
    energy = report["resources"]["energy"]
    if energy["cpu_source"] is None:  # no readable RAPL here: said, not guessed
        assert any(n.startswith("CPU energy:") for n in energy["notices"])
        assert all(s["cpu_joules"] is None for s in energy["per_stage"])
    assert report["code"]["notice"] == "Code attribution off (--no-pyspy)."


def _python_for_nobody(drop: list[str]) -> tuple[str, dict[str, str]]:
    """A Python that `nobody` may run with this environment's packages: this one, or (when it
    lives under /root, as pyenv's does) the system's of the same version with our site-packages."""
    check = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import profiler, locust'], check=True)"
    extra = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    if subprocess.run([*drop, sys.executable, "-c", check], capture_output=True, cwd=ROOT).returncode == 0:
        return sys.executable, extra
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    site = [p for p in sys.path if p.endswith("site-packages")]
    extra["PYTHONPATH"] = os.pathsep.join([str(ROOT), *site])
    env = {**os.environ, **extra}
    ok = (
        Path(system).exists()
        and subprocess.run([*drop, system, "-c", check], capture_output=True, cwd=ROOT, env=env).returncode == 0
    )
    if not ok:
        pytest.skip("no Python that `nobody` can run with this environment's packages")
    return system, extra


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to another user")
def test_pyspy_without_permission_is_one_notice_and_the_run_goes_on(started_app) -> None:  # type: ignore[no-untyped-def]
    # The target runs as root; the profiler runs as `nobody`, so py-spy may not read it.
    drop = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
    python, extra_env = _python_for_nobody(drop)
    port = free_port()
    app = started_app(BASIC_APP, port)
    shared = Path(tempfile.mkdtemp(prefix="profiler-nobody-"))  # pytest's tmp_path is root-only
    shared.chmod(0o777)
    out = shared / "r"
    env = {**os.environ, "NO_COLOR": "1", "HOME": str(shared), **extra_env}
    try:
        proc = subprocess.run(
            [
                *drop,
                python,
                "-m",
                "profiler",
                "run",
                f"http://127.0.0.1:{port}/fast",
                "--pid",
                str(app.pid),
                "--users",
                "1,2",
                "--duration",
                "3",
                "--out",
                str(out),
                "--no-gpu",
                "--ready-timeout",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env=env,
        )
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
        assert proc.returncode == 0, proc.stderr
        report = read_report(out)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert report["load"]["requests"] > 0
    notice = report["code"]["notice"]
    assert report["code"]["available"] is False
    assert notice and notice.startswith("py-spy:") and "Fix:" in notice
    assert notice in report["notices"]
    notice_lines = [line for line in proc.stderr.splitlines() if line.startswith("py-spy:")]
    assert len(notice_lines) == 1, proc.stderr
