"""Running a campaign: tokens walking the flow, waits, listeners and events.

The spec (``engine.flow``) never changes while a campaign runs; everything
here is the run's state, kept in the database and worked on in batches.
"""
