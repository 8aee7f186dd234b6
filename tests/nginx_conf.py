"""nginx for the tests: where its binary is, and a configuration that runs it from a temporary
folder (its pid, logs and temp files there; `PORT` replaced by the start script with the port the
run picks). Its workers run as root where the tests do (else as the same user)."""

from __future__ import annotations

import shutil
from pathlib import Path

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def nginx_conf(site: Path, http: str, workers: int = 2) -> str:
    """A whole nginx.conf serving `http` (server blocks, caches) from `site`."""
    return f"""worker_processes {workers};
user root;
daemon off;
pid {site}/nginx.pid;
error_log {site}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {site}/body;
  proxy_temp_path {site}/proxy;
  fastcgi_temp_path {site}/fastcgi;
  uwsgi_temp_path {site}/uwsgi;
  scgi_temp_path {site}/scgi;
{http}
}}
"""
