"""The dashboard's pages, in navigation order: (file under the repo root, title, icon)."""

PAGES = (
    ("pages/why.py", "Why gradients vanish", ":material/trending_down:"),
)
