"""Sources, Dagster-free: what a declaration says (spec.py), where the declarations are
(declarations.py), how files become bronze and silver (loads.py) and what guards them (audits.py)."""
