"""A language guess from a file's name, for every input form (no file contents needed)."""

from __future__ import annotations

from pathlib import PurePosixPath

_BY_SUFFIX = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript", ".mts": "typescript",
    ".cts": "typescript", ".tsx": "tsx", ".go": "go", ".rs": "rust", ".java": "java",
    ".rb": "ruby", ".rake": "ruby", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
    ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".cs": "csharp", ".php": "php",
    ".sql": "sql", ".yml": "yaml", ".yaml": "yaml", ".toml": "toml", ".json": "json",
    ".tf": "hcl", ".hcl": "hcl", ".tfvars": "hcl", ".sh": "shell", ".bash": "shell",
    ".zsh": "shell", ".fish": "shell", ".vue": "vue", ".svelte": "svelte", ".html": "html",
    ".htm": "html", ".css": "css", ".scss": "css", ".sass": "css", ".less": "css",
    ".md": "markdown", ".rst": "rst",
    ".kt": "kotlin", ".swift": "swift", ".scala": "scala", ".ex": "elixir", ".exs": "elixir",
    ".erb": "erb", ".haml": "haml", ".proto": "protobuf", ".graphql": "graphql",
    ".gql": "graphql", ".xml": "xml", ".ini": "ini", ".cfg": "ini", ".prisma": "prisma",
    ".txt": "text",
}
_BY_NAME = {
    "Dockerfile": "dockerfile", "Containerfile": "dockerfile", "Makefile": "make",
    "GNUmakefile": "make", "Gemfile": "ruby", "Rakefile": "ruby", "Vagrantfile": "ruby",
    "Jenkinsfile": "groovy", "CMakeLists.txt": "cmake",
}


def guess_language(path: str) -> str | None:
    """The language of `path` by its name, or None."""
    name = PurePosixPath(path).name
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.startswith(("Dockerfile.", "Containerfile.")) or name.endswith(".dockerfile"):
        return "dockerfile"
    return _BY_SUFFIX.get(PurePosixPath(name).suffix.lower())
