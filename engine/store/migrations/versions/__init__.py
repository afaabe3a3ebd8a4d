"""One module per schema revision; never edit one that has been released.

A revision names itself and the one it follows (``revision``,
``down_revision``) and is self-contained: it must keep running when the code
it was written beside has changed, so it imports nothing from ``engine`` but
the frozen helpers of ``engine.store.migrations.columns``.
"""
