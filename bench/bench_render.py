"""How long building one message takes, as the outbox builds it (``render_raw``).

Three bodies: a whole HTML document (sent as written, as before the layout
existed), an HTML fragment in the campaign's layout and theme, and a
Markdown body in the layout. The layout's CSS inlining and the Markdown
conversion are cached per template, so the designed kinds should cost about
what the plain one does; this script prints the figures to check that.

    .venv/bin/python bench/bench_render.py [--sends 5000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.delivery.layout import Theme  # noqa: E402
from engine.delivery.render import EmailContent, render_raw  # noqa: E402
from engine.delivery.tracked_links import TrackingUrls  # noqa: E402
from engine.delivery.tracking_tokens import TrackingTokens  # noqa: E402

THEME = Theme(logo="https://shop.example/logo.png", color="#0F766E",
              footer="You get this email because you shop at the Spring Shop.",
              address="Spring Shop, 12 Market Street, Springfield, IL 62701, USA")
SUBJECT = "Hi {{ first_name | default('there') }}, our spring offer"
KINDS = {
    "whole HTML document (as written)": EmailContent(
        SUBJECT, "<html><body><p>Hi {{ first_name }},</p><p>Our spring offer is live: "
                 "<a href='https://shop.example/offer'>see it</a>.</p></body></html>"),
    "HTML fragment in the layout": EmailContent(
        SUBJECT, "<p>Hi {{ first_name }},</p><p>Our <strong>spring offer</strong> is live: "
                 "<a href='https://shop.example/offer'>see it</a>.</p><p>Happy spring,<br>The team</p>",
        theme=THEME),
    "Markdown in the layout": EmailContent(
        SUBJECT, "Hi {{ first_name }},\n\nOur **spring offer** is live: [see it](https://shop.example/offer)."
                 "\n\nHappy spring,  \nThe team\n", format="markdown", theme=THEME),
}


def per_send(content: EmailContent, sends: int, tokens: TrackingTokens) -> list[float]:
    """Microseconds per message, in ten slices (to show the spread)."""
    slices = []
    size = max(1, sends // 10)
    for part in range(10):
        began = time.perf_counter()
        for i in range(part * size, (part + 1) * size):
            urls = TrackingUrls("https://t.shop.example", tokens, "bench-uid", i, i, f"lead{i}@example.com")
            render_raw(content, {"first_name": f"Lead {i}"}, email=f"lead{i}@example.com",
                       sender="Spring Shop <news@shop.example>", urls=urls, message_id=f"<t{i}.e1@shop.example>")
        slices.append((time.perf_counter() - began) / size * 1e6)
    return slices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=5000, help="messages built per kind")
    args = parser.parse_args()
    tokens = TrackingTokens(b"bench-secret-0123456789abcdef0123456789")
    for content in KINDS.values():  # warm the caches and the imports, as a running outbox has them
        per_send(content, 50, tokens)
    print(f"render_raw, {args.sends:,} messages per kind (one process, one core):")
    for name, content in KINDS.items():
        slices = per_send(content, args.sends, tokens)
        median = statistics.median(slices)
        print(f"  {name:34} {median:7.0f} µs/message (slices {min(slices):.0f}–{max(slices):.0f}), "
              f"{1e6 / median:,.0f} messages/s")


if __name__ == "__main__":
    main()
