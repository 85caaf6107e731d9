"""The language server's features, one module each; each has ``register(server)``."""
