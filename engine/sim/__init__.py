"""Simulation: a campaign on a simulated clock with a simulated outbox."""
