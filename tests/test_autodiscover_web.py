"""The README's nginx and Apache configurations answer Outlook's POST with the domain's autodiscover.xml, for real.

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
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import BASE, ROOT
from mailservers import free_port, stop_process

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


def _serves(base: str, answer_file: Path) -> None:
    """Outlook's POST (and a GET) at both spellings of the path get the answer file as XML."""
    for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
        for method in ("POST", "GET"):
            status, body, content_type = _ask(base + path, method)
            assert (status, body) == (200, answer_file.read_bytes()), (path, method, status)
            assert content_type.startswith("application/xml")


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
        _serves(base, answer_file)
    finally:
        stop_process(process)


def test_without_the_error_page_line_nginx_refuses_the_post(answer_file, tmp_path):
    location = re.sub(r"alias [^;]+;", f"alias {answer_file};", _readme_location())
    location = "\n".join(line for line in location.splitlines() if not line.strip().startswith("error_page"))
    process, base = _nginx(tmp_path, location)
    try:
        assert _ask(base + "/autodiscover/autodiscover.xml", "POST")[0] == 405, (tmp_path / "error.log").read_text()
        assert _ask(base + "/autodiscover/autodiscover.xml", "GET")[:2] == (200, answer_file.read_bytes())
    finally:
        stop_process(process)


def _readme_apache() -> list[str]:
    """The README's Apache example: the lines that answer Outlook (AliasMatch and the <Files> block)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (snippet,) = re.findall(r"```apache\n(.*?)```", readme, re.S)
    lines = [line.strip() for line in snippet.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("<Files"))
    end = lines.index("</Files>", start)
    return [line for line in lines if line.startswith("AliasMatch ")] + lines[start:end + 1]


def test_the_readme_apache_lines_answer_outlooks_post_with_the_file(answer_file, tmp_path):
    """A real Apache httpd (Debian's apache2-bin) with the README's lines: its default handler serves the file to
    POST as to GET."""
    public = Path(tempfile.mkdtemp(prefix="mailprofiles-apache-"))      # readable by the server's own user
    try:
        public.chmod(0o755)
        served = public / "autodiscover.xml"
        served.write_bytes(answer_file.read_bytes())
        served.chmod(0o644)
        port = free_port()
        modules = Path("/usr/lib/apache2/modules")
        directives = [re.sub(r'"/srv/[^"]+"', f'"{served}"', line) for line in _readme_apache()]
        (tmp_path / "httpd.conf").write_text("\n".join([
            f"ServerRoot {tmp_path}", f"Listen 127.0.0.1:{port}", "ServerName autodiscover.example.com",
            f"PidFile {tmp_path / 'httpd.pid'}", f"ErrorLog {tmp_path / 'error.log'}",
            f"DefaultRuntimeDir {tmp_path}", f"DocumentRoot {public}",
            *(f"LoadModule {name}_module {modules / f'mod_{name}.so'}" for name in
              ("mpm_prefork", "authz_core", "alias")),       # ForceType is the core's
            *(["User nobody", "Group nogroup"] if os.geteuid() == 0 else []),
            *directives, ""]))
        process = subprocess.Popen([shutil.which("apache2") or "/usr/sbin/apache2", "-X", "-f",
                                    str(tmp_path / "httpd.conf")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(base + "/", timeout=5)
                    break
                except urllib.error.HTTPError:
                    break
                except (urllib.error.URLError, ConnectionError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        process.kill()
                        errors = process.stderr.read().decode() if process.stderr else ""
                        raise AssertionError(f"apache2 did not start: {errors[-2000:]}") from None
                    time.sleep(0.1)
            _serves(base, answer_file)
        finally:
            stop_process(process)
    finally:
        shutil.rmtree(public, ignore_errors=True)
