"""The public tracking relay (``mailbranch relay``) and the desktop's sync from it."""
