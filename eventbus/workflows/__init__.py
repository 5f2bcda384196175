"""Amazon States Language: definitions, paths, JSONata and the pure step function."""
