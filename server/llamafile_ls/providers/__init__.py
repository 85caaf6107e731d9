"""Providers: one module per wire format (:mod:`.llamacpp`, :mod:`.openai`) on shared HTTP
plumbing (:mod:`.http`), the types they share (:mod:`.base`), and the registry that finds
one by Continue's provider name (:mod:`.registry`) — the only way to a provider."""
