"""llamafile-ls: a language server for code edits by a local LLM served by a llamafile."""

__version__ = "0.1.0"
