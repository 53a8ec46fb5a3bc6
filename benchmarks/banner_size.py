"""Bytes of the banner as the gateway serves it: minified, then compressed with ``gzip -9``.

The served files are what ``Banner.load`` builds (rjsmin, rcssmin, the settings written into
banner.js) with the default settings; each is compressed on its own by the ``gzip`` command,
as a server or CDN compresses each response. The budget of issue 3 is banner.js + banner.css
<= 7 KB (7,000 bytes here); translations are excluded, and one is sent per visitor.

    .venv/bin/python benchmarks/banner_size.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.banner import Banner
from gateway.resources import static_dir

BUDGET = 7000


def gzip9(body: bytes) -> int:
    return len(subprocess.run(["gzip", "-9", "-c"], input=body, capture_output=True).stdout)


def main() -> None:
    banner = Banner.load("/_consent")
    source_dir = static_dir() / "consent-banner"
    print(f"{'file':<18} {'source':>8} {'minified':>9} {'gzip -9':>8}")
    total = 0
    names = ["banner.js", "banner.css", "consent-mode.js", "locales/en.json", "locales/de.json"]
    for name in names:
        served = banner.asset(name).body
        size = gzip9(served)
        if name in ("banner.js", "banner.css"):
            total += size
        source = len((source_dir / name).read_bytes())
        print(f"{name:<18} {source:>8,} {len(served):>9,} {size:>8,}")
    print(f"banner.js + banner.css, gzip -9: {total:,} bytes (budget {BUDGET:,})")


if __name__ == "__main__":
    main()
