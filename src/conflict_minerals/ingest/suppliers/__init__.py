"""The supplier work: one response per supplier, where each stands, what changed, letters to them."""
