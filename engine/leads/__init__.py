"""Leads: who a campaign writes to, imported from the marketer's spreadsheet."""
