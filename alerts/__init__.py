"""lytewatch's clinical side: models, codes and units, rules, the alert lifecycle and the engine."""
