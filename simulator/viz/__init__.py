"""Figures (matplotlib, imported lazily): overhead vs BER, layer breakdown, Pareto front, timeline."""
