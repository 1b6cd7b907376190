"""How clawdata touches the DuckDB warehouse file: reading CSVs, publishing tables atomically."""
