"""A demo host page for trying the widget: a small shop page with the one-line snippet.

No inline script (Relaydesk's own CSP forbids it): the snippet is the same ``<script src>``
tag a customer's site uses; every value put in the page is HTML-escaped.
"""

from __future__ import annotations

import uuid
from html import escape

__all__ = ["demo_html", "snippet"]


def snippet(script_url: str, inbox_id: uuid.UUID, **data: str | None) -> str:
    """The ``<script>`` tag a site adds to its pages (``data-*`` for the optional values)."""
    extra = "".join(
        f' data-{name.replace("_", "-")}="{escape(value)}"' for name, value in data.items() if value
    )
    return f'<script src="{escape(script_url)}" data-inbox="{inbox_id}"{extra} async></script>'


_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Relaydesk web chat demo</title>
<style>
  body {{ margin: 0; font: 16px/1.6 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif;
         color: #1f2328; background: #f6f8fa; }}
  header {{ background: #24292f; color: #fff; padding: 16px 24px; font-weight: 600; }}
  main {{ max-width: 880px; margin: 24px auto; padding: 0 16px; }}
  .grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr));
          gap: 16px; }}
  .card {{ background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 16px; }}
  .price {{ color: #cf222e; font-weight: 600; }}
  code {{ background: #eaeef2; padding: 2px 4px; border-radius: 4px; font-size: 13px; }}
</style>
</head>
<body>
<header>示例商城 Demo Shop</header>
<main>
  <p>This page embeds the Relaydesk web chat of the inbox <strong>{title}</strong> with one tag
  (bottom corner). 本页用一行代码嵌入了在线客服挂件。</p>
  <p><code>{code}</code></p>
  <div class="grid">
    <div class="card"><h3>无线耳机 Pro</h3><p class="price">¥ 899</p></div>
    <div class="card"><h3>智能手表 S2</h3><p class="price">¥ 1,299</p></div>
    <div class="card"><h3>蓝牙音箱 Mini</h3><p class="price">¥ 199</p></div>
  </div>
</main>
{tag}
</body>
</html>
"""


def demo_html(
    inbox_id: uuid.UUID,
    name: str,
    *,
    user_id: str | None = None,
    user_hash: str | None = None,
    locale: str | None = None,
) -> str:
    tag = snippet(
        "/widget/widget.js",
        inbox_id,
        user_id=user_id,
        user_hash=user_hash,
        locale=locale if locale in ("zh-CN", "en") else None,
    )
    return _PAGE.format(title=escape(name), code=escape(tag), tag=tag)
