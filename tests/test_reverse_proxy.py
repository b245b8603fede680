"""nginx in front of the app (docker-compose.yml, deploy/nginx.conf): buffering and timeouts so a slow
client holds no app thread, the app not published, downloads sent by nginx after the app's permission
check. The last test runs Debian's nginx in front of the production web server for real."""

import hashlib
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from annotations.api.prompt_sets import MULTIPART_OVERHEAD
from annotations.export.job import run_export
from annotations.export.options import ExportOptions
from annotations.models import Export

from .factories import make_user
from .servers import ROOT, app_environment, free_port, request, start, start_web, stop, wait_until_answering

NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def directives(block: str) -> dict[str, str]:
    """`name value;` lines of a block (comments dropped), the last one winning."""
    text = re.sub(r"#.*", "", block)
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s*([a-z_]+)\s+([^;{}]*);", text, re.MULTILINE)}


def location(conf: str, path: str) -> str:
    match = re.search(r"location\s+" + re.escape(path) + r"\s*\{(.*?)\n    \}", conf, re.DOTALL)
    assert match, f"no location {path} in {NGINX_CONF}"
    return match.group(1)


def test_compose_publishes_nginx_only_and_shares_the_media_volume_with_it():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "ports" not in services["web"] and "ports" not in services["worker"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert proxy["ports"] and all(port.endswith(":80") for port in proxy["ports"])
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert proxy["healthcheck"]["test"][-1] == "http://127.0.0.1/proxy-healthz"  # a location of deploy/nginx.conf
    mounts = {volume.split(":")[1]: volume for volume in proxy["volumes"]}
    assert mounts["/etc/nginx/conf.d/default.conf"].startswith("./deploy/nginx.conf:")
    media_root = services["web"]["environment"]["MEDIA_ROOT"]
    assert mounts[media_root].endswith(":ro") and mounts[media_root].split(":")[0] in compose["volumes"]
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["MEDIA_ROOT"] == media_root and f"media:{media_root}" in services[name]["volumes"]
        assert env["LABELHUB_ACCEL_REDIRECT"] == "/protected-media/"
    # The internal location serves exactly the app's MEDIA_ROOT.
    internal = directives(location(NGINX_CONF.read_text(), env["LABELHUB_ACCEL_REDIRECT"]))
    assert internal["alias"] == media_root.rstrip("/") + "/"


def test_nginx_buffers_requests_and_times_out_slow_clients_within_the_apps_limits(settings):
    conf = NGINX_CONF.read_text()
    server = directives(conf)
    # Largest upload the app accepts, envelope included, rounded up to nginx's megabytes.
    limit_mb = math.ceil((settings.LABELHUB_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD) / 2**20)
    assert server["client_max_body_size"] == f"{limit_mb}m"
    for timeout in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        assert int(server[timeout].rstrip("s")) <= 60, timeout
    app = directives(location(conf, "/"))
    assert app["proxy_pass"] == "http://labelhub_web"
    assert app["proxy_request_buffering"] == "on" and app["proxy_buffering"] == "on"
    assert 0 < int(app["proxy_read_timeout"].rstrip("s")) <= 600
    assert "server web:8000" in conf  # compose's app service
    assert re.search(r"location /protected-media/ \{\s*internal;", conf)


@pytest.fixture
def nginx_in_front(transactional_db, tmp_path, settings):
    """Debian's nginx with deploy/nginx.conf (upstream, port and media path filled in) in front of
    the production web server (labelhub.serve) on the test database. Yields nginx's base URL."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (make test installs it: apt-get install nginx-light)")
    from .databases import subprocess_database_url

    web_port, proxy_port = free_port(), free_port()
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    env = app_environment(subprocess_database_url(), MEDIA_ROOT=str(media), LABELHUB_ACCEL_REDIRECT="/protected-media/",
                          LABELHUB_VAR_DIR=str(tmp_path / "var"), REDIS_URL="", GRANIAN_LOG_ACCESS_ENABLED="true")
    web_log = tmp_path / "web.log"
    web = start_web(env, web_port, web_log)
    site = (NGINX_CONF.read_text().replace("server web:8000;", f"server 127.0.0.1:{web_port};")
            .replace("listen 80;", f"listen 127.0.0.1:{proxy_port};")
            .replace("alias /data/media/;", f"alias {media}/;"))
    (tmp_path / "labelhub.conf").write_text(site)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / sub).mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""  # its workers must read the test's private tmp dir
    (tmp_path / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n access_log {tmp_path}/access.log;\n client_body_temp_path {tmp_path}/body;\n"
        f" proxy_temp_path {tmp_path}/proxy;\n fastcgi_temp_path {tmp_path}/fastcgi;\n"
        f" uwsgi_temp_path {tmp_path}/uwsgi;\n scgi_temp_path {tmp_path}/scgi;\n"
        f" include {tmp_path}/labelhub.conf;\n}}\n"
    )
    command = [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf"),
               "-g", "daemon off;"]
    checked = subprocess.run([*command[:-2], "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proxy_log = tmp_path / "nginx.out"
    proxy = start(command, env, proxy_log)
    try:
        wait_until_answering(f"http://127.0.0.1:{web_port}/api/projects/", web, web_log)
        wait_until_answering(f"http://127.0.0.1:{proxy_port}/api/projects/", proxy, proxy_log)
        yield f"http://127.0.0.1:{proxy_port}", web_log
    finally:
        stop(proxy)
        stop(web)


def test_real_nginx_sends_a_local_download_after_the_app_allowed_it(nginx_in_front, settings):
    from rest_framework.authtoken.models import Token

    from .factories import make_project

    base, _ = nginx_in_front
    project = make_project("helpful")
    rita, alice = make_user("rita", "researcher", project), make_user("alice", "labeler", project)
    export = Export.objects.create(project=project, requested_by=rita, params=ExportOptions().as_dict())
    assert run_export(export.pk)  # written by this process into the MEDIA_ROOT nginx serves
    export.refresh_from_db()
    url = f"{base}/api/exports/{export.pk}/download/"

    status, headers, body = request("GET", url, Token.objects.create(user=rita).key)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == export.sha256["bundle"] and len(body) > 100
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"].startswith(f'attachment; filename="labelhub-helpful-export-{export.pk}.zip"')
    assert "X-Accel-Redirect" not in headers  # consumed by nginx
    assert request("GET", url, Token.objects.create(user=alice).key)[0] == 403  # refused by the app
    assert request("GET", url)[0] == 401
    # compose's health check of the proxy, and the internal location not reachable from outside.
    assert request("GET", f"{base}/proxy-healthz")[:3:2] == (200, b"ok\n")
    assert request("GET", f"{base}/protected-media/{export.files['bundle']}")[0] == 404
    # A body over client_max_body_size never reaches the app.
    status, _, _ = request("POST", f"{base}/api/projects/helpful/prompt-sets/", data=b"x" * 16,
                           headers={"Content-Length": str(202 * 2**20), "Content-Type": "application/octet-stream"})
    assert status == 413


def test_real_nginx_holds_a_slow_upload_until_its_body_has_arrived(nginx_in_front):
    """Clients that send part of a body and stall: nginx keeps them (proxy_request_buffering), the
    app never sees their requests (its access log), and other requests are answered meanwhile."""
    import socket
    import time

    base, web_log = nginx_in_front
    host, port = base.removeprefix("http://").split(":")
    stalled = []
    for _ in range(4):  # more than the app's 2 threads
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"POST /api/projects/helpful/prompt-sets/ HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        stalled.append(sock)
    try:
        for _ in range(3):
            assert request("GET", f"{base}/api/projects/")[0] == 401  # answered by the app meanwhile
    finally:
        for sock in stalled:
            sock.close()
    time.sleep(1)  # had the app been given the requests, their truncated bodies would now be answered and logged
    log = web_log.read_text()
    assert "GET /api/projects/ " in log and "prompt-sets" not in log
