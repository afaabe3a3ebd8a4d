"""Delivery: turning an email node into a real message, sending it over SMTP,
and hearing back (opens, clicks, unsubscribes) through the tracking server.

Each module holds one piece; the engine's outbox and event handling wire
them together.
"""
