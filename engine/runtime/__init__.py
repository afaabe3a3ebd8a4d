"""Running campaigns for real: outbox, tracking sink, wall-clock runner."""
