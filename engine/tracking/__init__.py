"""Telling a reader's opens and clicks from a machine's (privacy proxies, link scanners)."""
