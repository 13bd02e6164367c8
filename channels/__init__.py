"""Channel adapters: one module per channel, the contract in ``base``."""
