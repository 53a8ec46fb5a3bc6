"""nginx (Debian's package) for the edge proxy's tests and benchmarks: one configuration
preamble for every nginx they start (``nginx_conf``) and one way to run it
(``running_nginx``); each caller writes only its ``http`` block's servers."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.upstreams import process

BINARY = shutil.which("nginx") or "/usr/sbin/nginx"
_TEMP = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_conf(root: Path, name: str, http: str, *, connections: int = 1024) -> str:
    """A whole ``nginx.conf`` for an nginx of its own: one worker; its pid, error log and
    temporary files in ``root``, named after ``name`` (several may share a root); run as
    root when the tests are (nginx drops to ``nobody`` otherwise); no access log; and
    ``http``, the directives and servers of its ``http`` block."""
    user = "user root;" if os.geteuid() == 0 else ""
    temp = "".join(f"    {kind}_temp_path {root}/{name}-{kind};\n" for kind in _TEMP)
    block = textwrap.indent(textwrap.dedent(http).strip(), "    ")
    return (
        f"{user}\nworker_processes 1;\npid {root}/{name}.pid;\n"
        f"error_log {root}/{name}.log warn;\n"
        f"events {{ worker_connections {connections}; }}\n"
        f"http {{\n    access_log off;\n{temp}{block}\n}}\n"
    )


@contextmanager
def running_nginx(
    root: Path,
    name: str,
    http: str,
    port: int,
    *,
    connections: int = 1024,
    prefix: Sequence[str] = (),
    **options: object,
) -> Iterator[None]:
    """nginx with ``nginx_conf(root, name, http)`` until the block ends, from when ``port``
    answers; ``prefix`` goes before the command (``taskset``), ``options`` to ``Popen``."""
    if not Path(BINARY).exists():
        raise RuntimeError("nginx is not installed: apt-get install nginx-light (.ci/run does)")
    path = root / f"{name}.conf"
    path.write_text(nginx_conf(root, name, http, connections=connections))
    command = [*prefix, BINARY, "-c", str(path), "-g", "daemon off;"]
    with process(command, port, "nginx", **options):
        yield
