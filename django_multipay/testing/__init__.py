"""Public test helpers for shops and backends: factories, emulator routing, the contract suite."""
