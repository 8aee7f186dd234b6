"""The ground floor every layer may use: the run's configuration, the one exception tree,
durations, secrets, Server-Timing parsing, exact order statistics, pricing, TOML and process plumbing."""
