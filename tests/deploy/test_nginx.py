"""deploy/nginx/herald.conf, the reverse proxy docker-compose puts in front of the API:
what it sets, that nginx accepts it, and — with a real nginx and a real ``herald serve`` on
loopback ports — that webhooks and ``/healthz`` pass through it while slow clients stop at
nginx and never reach Herald. The file is used as shipped, but for two lines: where nginx
listens and where Herald is (``api:8080`` only resolves inside compose)."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from service.dev.local_redis import free_port
from tests.deploy.util import COMPOSE, DEPLOY
from tests.herald_env import AM_TOKEN, env_for, fixture_payload, write_config
from tests.processes import serve, stop_all, wait_for

CONF = DEPLOY / "nginx" / "herald.conf"
TEXT = CONF.read_text()


def directive(name: str, text: str = TEXT) -> list[str]:
    """The arguments of every ``name ...;`` directive (comments ignored)."""
    lines = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return [m.group(1).strip() for m in re.finditer(rf"(?m)^[ \t]*{name}[ \t]+([^;{{}}\n]*);", lines)]


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                          if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.skip("nginx is not installed")
    return found


def local_copy(tmp: Path, herald: str, listen: int) -> Path:
    """The shipped file inside a minimal main configuration, listening on 127.0.0.1:``listen``
    and proxying to ``herald`` (host:port)."""
    site = TEXT.replace("server api:8080;", f"server {herald};").replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    assert site != TEXT
    (tmp / "herald.conf").write_text(site)
    temp = {name: tmp / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main = tmp / "nginx.conf"
    main.write_text("\n".join([
        "user root;" if os.geteuid() == 0 else "",
        "daemon off;", "worker_processes 1;", f"pid {tmp}/nginx.pid;", "error_log stderr warn;",
        "events { worker_connections 512; }",
        "http {", "    access_log off;",
        *(f"    {name}_temp_path {path};" for name, path in
          (("client_body", temp["body"]), ("proxy", temp["proxy"]), ("fastcgi", temp["fastcgi"]),
           ("uwsgi", temp["uwsgi"]), ("scgi", temp["scgi"]))),
        f"    include {tmp}/herald.conf;", "}", ""]))
    return main


def test_the_proxy_sets_slow_client_timeouts_and_per_client_limits():
    assert directive("client_header_timeout") == ["10s"] and directive("client_body_timeout") == ["10s"]
    assert directive("reset_timedout_connection") == ["on"]
    [zone_conn] = directive("limit_conn_zone")
    [zone_req] = directive("limit_req_zone")
    assert zone_conn.startswith("$binary_remote_addr ") and zone_req.startswith("$binary_remote_addr ")
    assert directive("limit_conn") == ["herald_conn 20"]
    assert directive("limit_req") == ["zone=herald_req burst=40 nodelay"]
    assert directive("limit_conn_status") == directive("limit_req_status") == ["429"]
    assert directive("proxy_request_buffering") == ["on"]  # Herald sees whole requests only
    assert directive("server") == ["api:8080"] and directive("proxy_pass") == ["http://herald_api"]
    assert re.search(r"location = /metrics \{\s*return 404;", TEXT), "/metrics must not be served through nginx"


def test_compose_puts_nginx_in_front_of_the_api():
    import yaml

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    nginx, api = services["nginx"], services["api"]
    assert nginx["image"].startswith("nginx:")
    assert "./nginx/herald.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert nginx["ports"] == ["127.0.0.1:8080:8080"] and "ports" not in api  # the way in is nginx
    assert nginx["depends_on"] == ["api"]
    # Behind nginx every client has nginx's address: its per-client limits replace the API's.
    assert api["environment"]["HERALD_HTTP_MAX_CONNECTIONS_PER_CLIENT"] == "0"


def test_nginx_accepts_the_config(tmp_path):
    nginx = nginx_binary()
    main = local_copy(tmp_path, "127.0.0.1:9", free_port())
    result = subprocess.run([nginx, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(main)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@contextmanager
def running_nginx(tmp: Path, herald: str) -> Iterator[str]:
    nginx = nginx_binary()
    port = free_port()
    main = local_copy(tmp, herald, port)
    proc = subprocess.Popen([nginx, "-e", "stderr", "-p", str(tmp), "-c", str(main)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or _answers(url), 30, f"nginx on {url}")
        assert proc.poll() is None, proc.communicate()[0]
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/healthz", timeout=1)
        return True
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_webhooks_pass_through_nginx_and_slow_clients_stop_there(tmp_path, redis_url):
    api, herald = serve(env_for(write_config(tmp_path / "conf"), redis_url))
    socks: list[socket.socket] = []
    try:
        with running_nginx(tmp_path, herald.removeprefix("http://")) as url:
            port = int(url.rsplit(":", 1)[1])
            for _ in range(30):  # more than limit_conn's 20: slow heads are not requests in progress yet
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                sock.sendall(b"POST /api/v1/alertmanager HTTP/1.1\r\nHost: herald\r\n")
                socks.append(sock)
            opened = time.monotonic()
            health = httpx.get(f"{url}/healthz", timeout=15)
            assert health.status_code == 200 and health.json() == {"status": "ok"}, health.text
            r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                           headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
                           timeout=15)
            assert r.status_code == 200 and r.json()["incidents"], r.text
            assert httpx.get(f"{url}/metrics", timeout=15).status_code == 404
            assert httpx.get(f"{herald}/metrics", timeout=15).status_code == 200  # (Prometheus's way in)
            for sock in socks:  # nginx ends them after client_header_timeout, never before
                sock.settimeout(60)
                try:
                    sock.recv(4096)
                except ConnectionResetError:
                    pass
            assert time.monotonic() - opened >= 10.0
            metrics = httpx.get(f"{herald}/metrics", timeout=15).text
            refused = re.findall(r'^herald_http_refused_total\{reason="[a-z_]+"\} (\S+)$', metrics, re.MULTILINE)
            assert refused and all(float(n) == 0 for n in refused), "Herald never saw the slow clients"
    finally:
        for sock in socks:
            sock.close()
        stop_all(api)
