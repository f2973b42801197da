"""Secret redaction: nothing that looks like a credential leaves the machine.

Hand-written patterns rather than a scanner library (detect-secrets, gitleaks) because we need
replacement inside diff lines, not just detection, and no extra runtime dependency. The patterns
favour recall: a redacted non-secret costs a little review context, a leaked key costs much more.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

# Files that are never sent at all, whatever their content.
_SECRET_NAMES = {
    ".env", ".envrc", ".netrc", ".npmrc", ".pypirc", ".pgpass", ".git-credentials",
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "credentials", "secrets.json",
    "secrets.yaml", "secrets.yml", "service-account.json", ".htpasswd",
}
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".gpg",
                    ".tfvars", ".tfstate")
_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist")

# Whole-token secrets with a recognisable shape.
_TOKENS = re.compile(
    r"(?:"
    r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}"                      # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_\-]{20,}"                              # GitLab
    r"|sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}"                  # OpenAI, Anthropic
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"            # Stripe
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"                         # Slack
    r"|AIza[0-9A-Za-z_\-]{35}"                                 # Google API keys
    r"|hf_[A-Za-z0-9]{30,}"                                    # Hugging Face
    r"|npm_[A-Za-z0-9]{36}"                                    # npm
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"  # JWTs
    r")"
)
# `password = "..."`, `API_KEY: ...`, `"client_secret": "..."`: redact the value. Unquoted values
# made of letters, dots and underscores only are code (`token = get_token()`), not secrets.
_ASSIGNED = re.compile(
    r"""(?ix)
    (?P<key>[\w.\-]*(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key
        |private[_\-]?key|credential)s?[\w.\-]*["']?\]?)
    \s*(?::=|=>|[:=])\s*
    (?:(?P<quote>["'`])(?P<quoted>[^"'`\n]{4,})(?P=quote)|(?P<value>[^\s"'`,;)}]{4,}))
    """
)
_CODE_LIKE = re.compile(r"^(?:[A-Za-z_][\w.]*[(\[].*|[A-Za-z_][A-Za-z_.]*)$")
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^\s:/@]+:)(?P<value>[^\s@/]+)(?=@)",
                           re.I)
# Authorization: Bearer xxx / Basic xxx
_AUTH_HEADER = re.compile(
    r"(?P<head>\b(?:bearer|basic|token)\s+)(?P<value>[A-Za-z0-9._~+/=\-]{16,})", re.I)
_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
# Values that are obviously not secrets (placeholders, variable references, types).
_HARMLESS = re.compile(
    r"^(?:\$\{?[\w.]+\}?|%\(?\w+\)?s?|<[^>]*>|\{\{.*\}\}|x+|\*+|none|null|nil|true|false|"
    r"changeme|example|placeholder|redacted|\[redacted\]|str|string|int|bool|optional.*|"
    r"os\.environ.*|os\.getenv.*|getenv.*|env\..*|process\.env.*|settings\..*|config\..*|"
    r"self\..*|request\..*|kwargs.*|args\..*)$",
    re.I,
)


def is_secret_file(path: str) -> bool:
    """True for files that must never be sent (`.env`, key stores, credential files)."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    if name in _SECRET_NAMES:
        return True
    if name.startswith(".env.") or name.endswith(".env"):
        return not name.endswith(_ENV_TEMPLATES)
    return name.endswith(_SECRET_SUFFIXES)


def redact(text: str) -> tuple[str, int]:
    """Redact secrets in `text`, line by line; return the new text and how many were redacted.

    Lines may carry a diff prefix (`+`, `-`, ` `, or a rendered line number): private key blocks
    are recognised across such lines and their bodies replaced.
    """
    lines = text.split("\n")
    count = 0
    in_key = False
    for index, line in enumerate(lines):
        if in_key:
            if _KEY_END.search(line):
                in_key = False
            else:
                lines[index] = _keep_prefix(line) + REDACTED
            continue
        if _KEY_BEGIN.search(line):
            if not _KEY_END.search(line):
                in_key = True
            else:
                lines[index] = _KEY_BEGIN.sub(REDACTED, _KEY_END.sub("", line))
            count += 1
            continue
        lines[index], found = redact_line(line)
        count += found
    return "\n".join(lines), count


def redact_line(line: str) -> tuple[str, int]:
    """Redact one line (no private-key block handling)."""
    count = 0

    def token(match: re.Match) -> str:
        nonlocal count
        count += 1
        return REDACTED

    def value(match: re.Match) -> str:
        nonlocal count
        group = "quoted" if match.groupdict().get("quoted") else "value"
        secret = match.group(group)
        if secret == REDACTED or REDACTED in secret or _HARMLESS.match(secret):
            return match.group(0)
        if match.re is _ASSIGNED and group == "value" and _CODE_LIKE.match(secret):
            return match.group(0)
        count += 1
        start, end = match.start(group) - match.start(0), match.end(group) - match.start(0)
        return match.group(0)[:start] + REDACTED + match.group(0)[end:]

    line = _TOKENS.sub(token, line)
    line = _URL_PASSWORD.sub(value, line)
    line = _AUTH_HEADER.sub(value, line)
    line = _ASSIGNED.sub(value, line)
    return line, count


def _keep_prefix(line: str) -> str:
    """The diff/line-number prefix of a rendered line, so redacted key bodies keep their place."""
    match = re.match(r"^[ \d]*[+\- ]?\s?", line)
    return match.group(0) if match else ""
