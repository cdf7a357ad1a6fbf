"""Standards profiles (TOML) and the evaluator that turns measurements into verdicts."""
