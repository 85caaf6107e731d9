"""Language names for file extensions, for the ``language`` template variable and fences."""

from __future__ import annotations

from pathlib import PurePath

_BY_SUFFIX = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascriptreact", ".ts": "typescript", ".tsx": "typescriptreact",
    ".rs": "rust", ".go": "go", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".java": "java", ".kt": "kotlin", ".kts": "kotlin",
    ".swift": "swift", ".rb": "ruby", ".php": "php", ".cs": "csharp", ".scala": "scala",
    ".lua": "lua", ".sh": "shellscript", ".bash": "shellscript", ".zsh": "shellscript",
    ".sql": "sql", ".html": "html", ".htm": "html", ".css": "css", ".scss": "scss",
    ".json": "json", ".jsonc": "jsonc", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".md": "markdown", ".rst": "restructuredtext", ".tex": "latex", ".r": "r", ".jl": "julia",
    ".hs": "haskell", ".ml": "ocaml", ".ex": "elixir", ".exs": "elixir", ".erl": "erlang",
    ".clj": "clojure", ".dart": "dart", ".zig": "zig", ".nim": "nim", ".pl": "perl",
    ".vim": "vim", ".el": "lisp", ".lisp": "lisp", ".scm": "scheme", ".vue": "vue",
    ".svelte": "svelte", ".proto": "proto", ".cmake": "cmake", ".mk": "makefile",
}  # fmt: skip
_BY_NAME = {"makefile": "makefile", "dockerfile": "dockerfile", "cmakelists.txt": "cmake"}


def language_for(path: str) -> str:
    """A VS Code style language id for ``path``; empty when unknown."""
    pure = PurePath(path)
    return _BY_NAME.get(pure.name.lower()) or _BY_SUFFIX.get(pure.suffix.lower(), "")
