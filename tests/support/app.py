"""AppTest of the dashboard with sign-in configured."""
from __future__ import annotations

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "not-a-real-secret-0123456789",
        "client_id": "lstmlab", "client_secret": "not-a-real-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


def plain(markdown: str) -> str:
    """Escaped Markdown as the reader sees it (no backslash escapes, no word joiners)."""
    return markdown.replace("\u2060", "").replace("\\", "")
