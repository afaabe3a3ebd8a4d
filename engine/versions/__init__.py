"""Changing a running campaign (SEMANTICS 11): versions of its flow, what an
edit does to the leads in flight (``impact``), and publishing it (``publish``)."""
