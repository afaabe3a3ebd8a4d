"""Mailbranch engine: flow model, validation, execution, persistence, delivery.

Pure Python, no Qt: the editor and the app import it; it never imports them.
"""
