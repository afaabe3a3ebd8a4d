"""Mailbranch's flow editor: a Qt node-graph canvas over ``engine.flow``.

The split follows orange-canvas-core: ``document`` adapts the plain flow's
notifications to Qt signals and owns the undo stack, ``commands`` holds every
edit, ``scene``/``items`` only mirror the model, ``interactions`` are the
mouse gestures, and ``controller``/``window`` assemble the widgets.
"""
