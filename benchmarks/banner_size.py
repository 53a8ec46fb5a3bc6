"""Bytes of the banner as the gateway serves it: minified, then compressed as it is sent to
clients that accept gzip (level 9, the same bytes as ``gzip -9`` here) or br (quality 11).

The served files are what ``Banner.load`` builds (rjsmin, rcssmin, the settings written into
banner.js) with the default settings; the gateway compresses each once, at start-up. The
budget of issue 3 is banner.js + banner.css <= 7 KB (7,000 bytes here) with gzip -9;
translations are excluded, and one is sent per visitor.

    .venv/bin/python benchmarks/banner_size.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.html.banner import Banner
from gateway.resources import static_dir

BUDGET = 7000
NAMES = ["banner.js", "banner.css", "consent-mode.js", "locales/en.json", "locales/de.json"]


def main() -> None:
    banner = Banner.load("/_consent")
    source_dir = static_dir() / "consent-banner"
    print(f"{'file':<18} {'source':>8} {'minified':>9} {'gzip':>7} {'br':>7}")
    totals = {"gzip": 0, "br": 0}
    for name in NAMES:
        asset = banner.asset(name)
        sent = {coding: len(asset.encoded[coding]) for coding in totals}
        if name in ("banner.js", "banner.css"):
            for coding, size in sent.items():
                totals[coding] += size
        source = len((source_dir / name).read_bytes())
        print(f"{name:<18} {source:>8,} {len(asset.body):>9,} {sent['gzip']:>7,} {sent['br']:>7,}")
    print(
        f"banner.js + banner.css: gzip {totals['gzip']:,} bytes (budget {BUDGET:,}), "
        f"br {totals['br']:,} bytes"
    )


if __name__ == "__main__":
    main()
