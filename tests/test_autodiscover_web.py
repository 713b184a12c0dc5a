"""The README's nginx configuration answers Outlook's POST with the domain's autodiscover.xml, in a real nginx.

nginx's static module refuses POST to a file (405); the README's ``location`` block turns that error into the file
(``error_page 405 =200 $uri``). The test takes that block from the README as it is printed there (only the
``alias`` path changes to the test's output folder), runs it in a private nginx on 127.0.0.1 (plain HTTP: TLS is the
web server's own business), and sends what Outlook sends: the file comes back byte for byte, for POST and GET, and
for the path spelled with capitals as Outlook also spells it; the same block without the ``error_page`` line gives
405, which is why it is there.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from conftest import BASE, ROOT
from mailservers import free_port

from generator import generate

REQUEST = (b'<?xml version="1.0" encoding="utf-8"?>\n'
           b'<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
           b"<Request><EMailAddress>a@example.com</EMailAddress><AcceptableResponseSchema>"
           b"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
           b"</AcceptableResponseSchema></Request></Autodiscover>")


def _readme_location() -> str:
    """The ``location`` block of the README's nginx example."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (snippet,) = re.findall(r"```nginx\n(.*?)```", readme, re.S)
    (location,) = re.findall(r"^( *location .*?^ *\})", snippet, re.S | re.M)
    return location


def _nginx(tmp_path, location: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    conf = tmp_path / "nginx.conf"
    temp = tmp_path / "temp"
    temp.mkdir(exist_ok=True)
    conf.write_text(f"""
{"user root root;" if os.geteuid() == 0 else ""}
daemon off;
master_process off;
pid {tmp_path / "nginx.pid"};
error_log {tmp_path / "error.log"};
events {{ worker_connections 16; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name autodiscover.example.com;
{location}
    }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(base + "/", timeout=5)
        except urllib.error.HTTPError:
            break                   # it answers (404 for /)
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"nginx did not start: {(tmp_path / 'error.log').read_text()[-2000:]}") \
                    from None
            time.sleep(0.1)
        else:
            break
    return process, base


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr:
        process.stderr.close()


def _ask(url: str, method: str) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=REQUEST if method == "POST" else None, method=method,
                                     headers={"Content-Type": "text/xml"} if method == "POST" else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""


@pytest.fixture()
def answer_file(write_inventory, tmp_path):
    out = tmp_path / "out"
    generate(write_inventory(BASE + "users:\n  - {email: a@example.com, devices: [desktop, laptop]}\n"), out)
    return out / "autodiscover/example.com/autodiscover.xml"


def test_the_readme_nginx_location_answers_outlooks_post_with_the_file(answer_file, tmp_path):
    location = _readme_location()
    assert "error_page 405 =200 $uri;" in location
    location = re.sub(r"alias [^;]+;", f"alias {answer_file};", location)
    process, base = _nginx(tmp_path, location)
    try:
        for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
            for method in ("POST", "GET"):
                status, body, content_type = _ask(base + path, method)
                assert (status, body) == (200, answer_file.read_bytes()), (path, method, status)
                assert content_type.startswith("application/xml")
    finally:
        _stop(process)


def test_without_the_error_page_line_nginx_refuses_the_post(answer_file, tmp_path):
    location = re.sub(r"alias [^;]+;", f"alias {answer_file};", _readme_location())
    location = "\n".join(line for line in location.splitlines() if not line.strip().startswith("error_page"))
    process, base = _nginx(tmp_path, location)
    try:
        assert _ask(base + "/autodiscover/autodiscover.xml", "POST")[0] == 405, (tmp_path / "error.log").read_text()
        assert _ask(base + "/autodiscover/autodiscover.xml", "GET")[:2] == (200, answer_file.read_bytes())
    finally:
        _stop(process)
