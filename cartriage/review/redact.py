"""Secret detection and redaction: nothing that looks like a credential leaves the machine.

Token shapes come from detect-secrets' maintained rule set (its regex detectors: AWS, GitHub,
GitLab, Slack tokens and webhook URLs, SendGrid, PyPI, Stripe, Twilio, Azure, JWT, ...), with
gitleaks-style prefixes it lacks added here, plus what a rule set of token shapes cannot see:
values assigned to secret-named keys (letters-only ones in YAML, XML and env files included),
passwords in URLs, connection strings and `curl -u`, private-key blocks (PEM, OpenSSH, SSH2,
PuTTY; also written on one line with `\\n` escapes, or shown only by their body lines) and
high-entropy quoted strings. detect-secrets finds secrets; replacing them inside diff lines is
done here. The rules favour recall: a redacted non-secret costs a little review context, a
leaked key costs much more.

Speed: a text is not run through every rule line by line. Each rule is first located in the
whole text: by a literal every match of the rule must contain (read from the regex's own parse
tree), else by the rule's regex searched once over the text. Only the lines a rule may match are
then checked with that rule, so the result is the same as checking every rule on every line
(tests/review/test_secret_speed.py holds the two paths equal). What a line may hold and holds
depends on its text alone, so each distinct text is located and checked once (a range's lines
repeat); key blocks are still followed line by line.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cartriage import regex_literals
from cartriage.regex_literals import Lazy

Rule = Lazy | re.Pattern  # a rule's regex (detect-secrets' own rules are compiled)
REDACTED = "[REDACTED]"
CONTINUED = "private key (continued)"  # the body lines of a key block after its first

# Files that are never sent at all, whatever their content.
_SECRET_NAMES = {
    ".env", ".envrc", ".netrc", ".npmrc", ".pypirc", ".pgpass", ".git-credentials",
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "credentials", "secrets.json",
    "secrets.yaml", "secrets.yml", "service-account.json", ".htpasswd",
}
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".gpg",
                    ".tfvars", ".tfstate", ".ppk")
_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist")

# detect-secrets detectors not used: public IPs are not secrets; private keys and keyword
# assignments are handled below with line context that a one-line rule does not have.
_SKIPPED_DETECTORS = {"Public IP (ipv4)", "Private Key", "Secret Keyword"}

# Token shapes detect-secrets 1.5 has no rule for (prefixes as in gitleaks' rule set).
_EXTRA_TOKENS = (
    ("GitHub token", r"github_pat_[A-Za-z0-9_]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"),
    ("OpenAI/Anthropic key", r"sk-(?:ant-(?:api\d\d-)?|proj-|svcacct-)?[A-Za-z0-9_\-]{20,}"),
    ("Stripe key", r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{20,}"),
    ("Slack token", r"xox[abposre]-[A-Za-z0-9\-]{10,}|xapp-[A-Za-z0-9\-]{10,}"),
    ("Slack webhook URL", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/]+"),
    ("Discord webhook URL", r"https://(?:\w+\.)?discord(?:app)?\.com/api/webhooks/\d+/[\w\-]+"),
    ("Google API key", r"AIza[0-9A-Za-z_\-]{35}"),
    ("Google OAuth client secret", r"GOCSPX-[A-Za-z0-9_\-]{20,}"),
    ("Hugging Face token", r"hf_[A-Za-z0-9]{30,}"),
    ("npm token", r"npm_[A-Za-z0-9]{36}"),
    ("PyPI token", r"pypi-[A-Za-z0-9_\-]{50,}"),
    ("SendGrid key", r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"),
    ("GitLab token", r"gl(?:pat|dt|ft|rt|cbt|ptt|soat)-[A-Za-z0-9_\-]{20,}"),
    ("DigitalOcean token", r"do[opr]_v1_[a-f0-9]{64}"),
    ("Shopify token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    ("Databricks token", r"dapi[a-f0-9]{32}(?:-\d)?"),
    ("Doppler token", r"dp\.(?:st|ct|sa|scim|audit)\.[A-Za-z0-9_\-]{20,}"),
    ("age secret key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    ("Postman key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("Atlassian token", r"ATATT3[A-Za-z0-9_\-=]{30,}"),
    ("Linear key", r"lin_api_[A-Za-z0-9]{40}"),
    ("Grafana token", r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2}"),
    ("Vault token", r"hv[sb]\.[A-Za-z0-9_\-]{24,}"),
    ("Terraform Cloud token", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,}"),
    ("AWS access key", r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"),
    ("JSON web token", r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
)

_KEYWORDS = (r"passw(?:or)?d|passwd|pwd|pass\b|passphrase|secret|token|api[_\-]?key|apikey"
             r"|access[_\-]?key"
             r"|private[_\-]?key|secret[_\-]?key|credentials?|client[_\-]?secret|signing"
             r"[_\-]?key|encryption[_\-]?key|master[_\-]?key|webhook[_\-]?secret|dsn|salt")
# `password = "..."`, `API_KEY: ...`, `"client_secret": "..."`, `STRIPE_KEY=...`: the value.
_ASSIGNED = Lazy(
    rf"""(?ix)
    (?P<key>(?P<keyquote>["']?)[\w.\-]*(?:{_KEYWORDS}|_key\b)[\w.\-]*(?P=keyquote)\]?)
    (?P<sep>\s*(?::=|=>|[:=,])\s*)
    (?:(?P<quote>["'`])(?P<quoted>(?:(?!(?P=quote)).){{3,}})(?P=quote)
      |(?P<value>[^\s"'`,)}}<>]{{3,}}))
    """
)
KEYWORD_HINT = Lazy(rf"(?i){_KEYWORDS}|_key\b")
_RUN = Lazy(r"[\w.\-]*")  # the characters of an unquoted key
_UPPER_KEY = Lazy(r"^[\"']?[A-Z0-9_.\-]*[A-Z][A-Z0-9_.\-]*[\"']?$")
_CODE_LIKE = Lazy(r"^(?:[A-Za-z_][\w.]*\s*[(\[].*|[A-Za-z_][A-Za-z_.]*|\d+)$")
# <password>...</password> in XML
_XML_VALUE = Lazy(rf"(?i)<(?P<tag>[\w:\-]*(?:{_KEYWORDS})[\w:\-]*)(?:\s[^>]*)?>"
                  rf"(?P<value>[^<]{{3,}})</(?P=tag)>")
# scheme://user:password@host, and scheme://:password@host; the password may hold '@'
_URL_PASSWORD = Lazy(r"(?i)[a-z][a-z0-9+.\-]*://[^\s:/@]*:(?P<value>[^\s/]+?)"
                     r"@(?=[^\s@]*$|[^\s@/]+[/:?#\s\"'])")
# connection strings: Password=...; AccountKey=...; SharedAccessKey=...
_CONNECTION = Lazy(r"(?i)\b(?:password|pwd|accountkey|sharedaccesskey|sharedaccess"
                   r"signature|sig|secret)=(?P<value>[^;\s\"'&]{3,})")
# curl -u user:password, --user user:password
_CURL_USER = Lazy(r"(?:\s-u\s*|--user[=\s]\s*)[\"']?[^\s:\"']*:(?P<value>[^\s\"']+)")
# Authorization: Bearer xxx / Basic xxx
_AUTH_HEADER = Lazy(r"(?i)\b(?:bearer|basic|token)\s+(?P<value>[A-Za-z0-9._~+/=\-]{16,})")
# A private key written on one line (JSON, env strings): from BEGIN to END or the line's end.
_KEY_INLINE = Lazy(r"-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}"
                   r"(?P<body>.*?)(?:-{4,5} ?END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}|$)")
_KEY_BEGIN = Lazy(r"-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}|"
                  r"PuTTY-User-Key-File-\d")
_KEY_END = Lazy(r"-{4,5} ?END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}|Private-MAC:")
# A line that is only base64 (a key body shown without its BEGIN line).
_KEY_BODY = Lazy(r"^[A-Za-z0-9+/]{40,}={0,2}$")
_KEY_BODY_RUN = Lazy(r"[A-Za-z0-9+/]{40}")  # what every key body line holds
_FILE_NAME = Lazy(r"\.[A-Za-z]{1,5}$|/[a-z]+_")  # a path, not a key
_QUOTED = Lazy(r"([\"'])(?P<value>[A-Za-z0-9+/=_\-.~]{20,})\1")
# Values that are obviously not secrets (placeholders, variable references, types).
_HARMLESS = Lazy(
    r"^(?:\$\{?[\w.:\-]+\}?|%\(?\w+\)?s?|<[^>]*>|\{\{.*\}\}|x+|\*+|none|null|nil|true|false|"
    r"changeme|example|placeholder|redacted|\[redacted\]|str|string|int|bool|bytes|any|float|"
    r"number|boolean|list|dict|object|tuple|"
    r"optional.*|os\.environ.*|os\.getenv.*|getenv.*|env\..*|process\.env.*|settings\..*|"
    r"config\..*|self\..*|this\..*|request\..*|kwargs.*|args\..*)$",
    re.I,
)


@dataclass(frozen=True)
class Secret:
    """A secret found in one line: where (character span) and what kind, never its value."""

    start: int
    end: int
    kind: str


def is_secret_file(path: str) -> bool:
    """True for files that must never be sent (`.env`, key stores, credential files)."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    if name in _SECRET_NAMES:
        return True
    if name.startswith(".env.") or name.endswith(".env"):
        return not name.endswith(_ENV_TEMPLATES)
    return name.endswith(_SECRET_SUFFIXES)


def redact(text: str) -> tuple[str, int]:
    """Redact secrets in `text`; return the new text and how many were redacted.

    Lines may carry a diff prefix (`+`, `-`, ` `, or a rendered line number): private key blocks
    are recognised across such lines and their bodies replaced, keeping the prefix.
    """
    lines = text.split("\n")
    count = 0
    for index, found in scan(lines):
        count += sum(secret.kind != CONTINUED for secret in found)
        lines[index] = _replace(lines[index], found)
    return "\n".join(lines), count


def scan(lines: Iterable[str]) -> Iterator[tuple[int, list[Secret]]]:
    """(line index, secrets) for every line of `lines` that holds a secret."""
    for _, index, found in scan_blocks([list(lines)]):
        yield index, found


def scan_blocks(blocks: list[list[str]], wanted: Callable[[str], bool] | None = None,
                ) -> Iterator[tuple[int, int, list[Secret]]]:
    """(block index, line index, secrets) for every line holding a secret, in blocks of lines
    (hunks) scanned apart (a key block does not run on into the next) but located in one go.

    With `wanted` (a test of a line's text), only the lines it accepts are searched for
    secrets (a caller that reports added lines only); the others are searched only for the
    start of a key block, whose body may run on into wanted lines. What is found in wanted
    lines is what a full scan finds."""
    distinct = dict.fromkeys(line for block in blocks for line in block)
    if wanted is None:
        candidates = _candidates_of(list(distinct), _locators())
    else:
        kept, rest = [], []
        for line in distinct:
            (kept if wanted(line) else rest).append(line)
        candidates = _candidates_of(kept, _locators()) | _candidates_of(rest, _key_openers())
    found_in: dict[str, list[Secret]] = {}
    for number, block in enumerate(blocks):
        for index, found in _scan(block, candidates, found_in):
            yield number, index, found


def _candidates_of(lines: list[str], locators: tuple) -> dict[str, set[Rule]]:
    """`_candidates` keyed by the line's text: a rule may match a line or not whatever its
    neighbours, so each distinct line is located once (a range's added lines repeat: netbox's
    145,559 hold 44,373 distinct ones)."""
    return {lines[at]: rules for at, rules in _candidates(lines, locators).items()}


def _scan(lines: list[str], candidates: dict[str, set[Rule]],
          found_in: dict[str, list[Secret]] | None = None) -> Iterator[tuple[int, list[Secret]]]:
    """The secrets of each line of one block; `found_in` keeps `find_secrets`' answer per line
    text across blocks (the same text has the same candidate rules)."""
    in_key = first = False
    found_in = {} if found_in is None else found_in
    for index, line in enumerate(lines):
        rules = candidates.get(line)
        if rules is None and not in_key:
            continue  # no rule can match this line and no key block is open
        if in_key:
            end = _KEY_END.search(line)
            if end and "Private-MAC" not in line:
                in_key = False
                continue
            in_key = end is None
            yield index, [Secret(len(_prefix(line)), len(line),
                                 "private key" if first else CONTINUED)]
            first = False
            continue
        begin = _KEY_BEGIN.search(line) if rules is None or _KEY_BEGIN in rules else None
        if begin:
            inline = _KEY_INLINE.search(line, begin.start())
            if inline is None or not inline.group("body").strip():
                in_key = first = True  # a block: its body is on the lines that follow
                continue
        found = found_in.get(line)
        if found is None:
            found = found_in[line] = find_secrets(line, rules)
        if found:
            yield index, found


def find_secrets(line: str, rules: set[Rule] | None = None) -> list[Secret]:
    """The secrets in one line, without overlaps (earliest, then longest, first).

    `rules`, when given, are the only rules that can match the line (`_candidates`)."""
    may = (rules if rules is not None else _all_rules()).__contains__
    spans: list[Secret] = []
    for match in _KEY_INLINE.finditer(line) if may(_KEY_INLINE) else ():
        if match.group("body").strip():
            spans.append(Secret(match.start(), match.end(), "private key"))
    body = line[len(_prefix(line)):].strip().strip("\"',") if may(_KEY_BODY_RUN) else ""
    if _KEY_BODY.match(body) and _entropy(body) > 4.0:
        spans.append(Secret(line.index(body), line.index(body) + len(body), "private key"))
    for kind, pattern in _token_rules():
        for match in pattern.finditer(line) if may(pattern) else ():
            group = 1 if pattern.groups and match.group(1) else 0
            if match.end(group) > match.start(group):
                spans.append(Secret(match.start(group), match.end(group), kind))
    for kind, pattern in (("password in URL", _URL_PASSWORD),
                          ("connection string secret", _CONNECTION),
                          ("curl credentials", _CURL_USER), ("authorization header", _AUTH_HEADER),
                          ("XML secret", _XML_VALUE)):
        for match in pattern.finditer(line) if may(pattern) else ():
            if not _HARMLESS.match(match.group("value")) and REDACTED not in match.group("value"):
                spans.append(Secret(match.start("value"), match.end("value"), kind))
    if may(KEYWORD_HINT):
        for match in _assignments(line):
            secret = _assigned_value(match)
            if secret is not None:
                spans.append(secret)
    for match in _QUOTED.finditer(line) if may(_QUOTED) else ():
        value = match.group("value")
        if _entropy(value) >= 4.0 and _mixed(value) and not _FILE_NAME.search(value):
            spans.append(Secret(match.start("value"), match.end("value"), "high-entropy string"))
    return _disjoint(spans)


def _assignments(line: str) -> Iterator[re.Match]:
    """The matches of `_ASSIGNED.finditer(line)`, tried only where one can start.

    A key is a run of word characters (`[\\w.-]`, optionally quoted) that holds a keyword, and a
    match starting inside a run also starts at its first character; so only the first
    character of each run holding a keyword, and the quote before it, are tried. Searching every
    position instead is quadratic in a long run (a 66,000-character base64 line with a `pwd`
    in it took 27 s)."""
    at = 0
    while (hint := KEYWORD_HINT.search(line, at)) is not None:
        start = hint.start()
        while start > at and (line[start - 1].isalnum() or line[start - 1] in "_.-"):
            start -= 1
        match = _ASSIGNED.match(line, max(start - 1, at)) or _ASSIGNED.match(line, start)
        if match is None:  # no keyword of this run is a key's: go past the run
            at = _RUN.match(line, hint.start()).end()
            continue
        yield match
        at = match.end()


def _assigned_value(match: re.Match) -> Secret | None:
    group = "quoted" if match.group("quoted") is not None else "value"
    value = match.group(group)
    if REDACTED in value or _HARMLESS.match(value.strip()):
        return None
    upper_key = _UPPER_KEY.match(match.group("key").rstrip("]"))
    if "," in match.group("sep") and not (match.group("keyquote") and upper_key
                                          and group == "quoted"):
        return None  # `f(password, x)`; but `define('DB_PASSWORD', '...')` is an assignment
    kind = f"secret assigned to {match.group('key').strip(chr(34) + chr(39) + ']')}"
    if group == "value":
        stripped = value.rstrip(";")
        if re.match(r"^(?:[(\[{]|[A-Za-z_][\w.]*\s*[(\[])|^\d{1,7}$", stripped):
            return None  # a call, a literal or a small number, whatever the style
        # In YAML (`password: hunter`) and env files (`DB_PASSWORD=hunter`) a plain word is the
        # value; in code (`password = user_password`) it is a name.
        yaml_like = ":" in match.group("sep") and not match.group("keyquote") \
            and stripped.isalnum()
        if _CODE_LIKE.match(stripped) and not upper_key and not yaml_like:
            return None
    return Secret(match.start(group), match.end(group), kind)


@functools.cache
def _token_rules() -> tuple[tuple[str, Rule], ...]:
    """detect-secrets' regex detectors (loaded once, on first use) plus the extra prefixes.

    Its detectors are read from `detect_secrets_rules.json` when that file was taken from the
    installed detect-secrets' own sources (the same digest of them), else from detect-secrets
    itself: importing it imports `requests` (used only to verify secrets online, which
    cartriage never does), about 0.12 s CPU before the first line is scanned."""
    stored = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    if stored["source"] == detect_secrets_digest():
        rules = [(kind, Lazy(pattern, flags)) for kind, pattern, flags in stored["rules"]]
    else:
        rules = [(kind, pattern) for kind, pattern in detect_secrets_rules()]
    return (*rules, *((kind, Lazy(pattern)) for kind, pattern in _EXTRA_TOKENS))


RULES_FILE = Path(__file__).with_name("detect_secrets_rules.json")


def detect_secrets_rules() -> list[tuple[str, re.Pattern]]:
    """The regex detectors of the installed detect-secrets, imported (kind, pattern)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    rules = []
    for kind, plugin in sorted(get_mapping_from_secret_type_to_class().items()):
        if kind in _SKIPPED_DETECTORS or not issubclass(plugin, RegexBasedDetector):
            continue
        rules += [(kind, pattern) for pattern in plugin().denylist]
    return rules


def detect_secrets_digest() -> str | None:
    """A digest of the installed detect-secrets' plugin sources (what its rules are read from),
    found without importing it; None when it is not installed."""
    import hashlib
    from importlib.util import find_spec

    spec = find_spec("detect_secrets")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    sources = sorted(path for path in [*root.glob("plugins/*.py"),
                                       root / "core" / "plugins" / "util.py"] if path.is_file())
    if not sources:  # not installed as files (a zip): read from detect-secrets itself
        return None
    digest = hashlib.sha256()
    for path in sources:
        digest.update(f"{path.relative_to(root)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def store_detect_secrets_rules() -> None:
    """Write `detect_secrets_rules.json` from the installed detect-secrets (after upgrading it:
    `python -c "from cartriage.review import redact; redact.store_detect_secrets_rules()"`)."""
    rules = ",\n".join(json.dumps([kind, pattern.pattern, pattern.flags])
                        for kind, pattern in detect_secrets_rules())
    RULES_FILE.write_text(f'{{"source": "{detect_secrets_digest()}", "rules": [\n{rules}\n]}}\n',
                          encoding="utf-8")


@functools.cache
def _all_rules() -> frozenset[Rule]:
    """Every rule `find_secrets` and `scan` run on a line, as the regex that locates it."""
    return frozenset((_KEY_BEGIN, _KEY_INLINE, _KEY_BODY_RUN, *(p for _, p in _token_rules()),
                      _URL_PASSWORD, _CONNECTION, _CURL_USER, _AUTH_HEADER, _XML_VALUE,
                      KEYWORD_HINT, _QUOTED))


@functools.cache
def _locators() -> tuple[tuple[Rule, bool, tuple[frozenset[str], ...], Rule],
                         ...]:
    """(rule, whether it ignores case, literal sets, whole-text regex) per rule: every match of
    the rule holds one literal of each set (in lower case if the rule ignores case). The first
    set is found in the text with `str.find`, the others are checked in the lines found. A rule
    without a selective enough set (literals of 3 characters, or of 2 with a second set) is
    located by its regex (multi-line, so `^` and `$` hold at line ends as they
    do on one line) searched over the whole text instead."""
    out = []
    for rule in _all_rules():
        fold, literals = regex_literals.read(rule.pattern, rule.flags)
        literals = [s for s in literals if min(map(len, s)) >= 2]
        if not literals or min(map(len, literals[0])) + len(literals) < 4:
            literals = []  # one set of two-letter literals is found too often to help
        out.append((rule, fold, tuple(literals), Lazy(rule.pattern, rule.flags | re.MULTILINE)))
    return tuple(out)


def prefiltered() -> list[tuple[str, int]]:
    """(text, flags) of the rules located by their literals (`regex_literals.STORED`)."""
    return [(rule.pattern, rule.flags) for rule in _all_rules()]


@functools.cache
def _key_openers() -> tuple:
    """The locator of the rule that opens a key block (`_KEY_BEGIN`)."""
    return tuple(locator for locator in _locators() if locator[0] is _KEY_BEGIN)


def _candidates(lines: list[str], locators: tuple) -> dict[int, set[Rule]]:
    """The rules of `locators` that may match each line (lines none may match are left out)."""
    text = "\n".join(lines)
    if text.count("\n") != len(lines) - 1:  # a line holding a newline: check it all
        return {index: {locator[0] for locator in locators} for index in range(len(lines))}
    lowered = regex_literals.fold(text)
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    lowered_starts = starts if len(lowered) == len(text) else list(itertools.accumulate(
        (len(line) + 1 for line in lowered.split("\n")), initial=0))
    out: dict[int, set[Rule]] = {}
    low_lines = lowered.split("\n")
    holding: dict[tuple[bool, str], set[int]] = {}  # rules share literals: each found once
    for rule, fold, literals, whole in locators:
        if literals:
            found, found_starts, found_lines = ((lowered, lowered_starts, low_lines) if fold
                                                else (text, starts, lines))
            first = set()
            for literal in literals[0]:
                if (fold, literal) not in holding:
                    holding[fold, literal] = _lines_holding(found, found_starts, literal)
                first |= holding[fold, literal]
            hits = {index for index in first
                    if all(any(literal in found_lines[index] for literal in others)
                           for others in literals[1:])}
        else:
            hits = _lines_matching(whole, text, starts)
        for index in hits:
            out.setdefault(index, set()).add(rule)
    return out


def _lines_holding(text: str, starts: list[int], literal: str) -> set[int]:
    hits = set()
    at = text.find(literal)
    while at >= 0:
        line = bisect.bisect_right(starts, at) - 1
        hits.add(line)
        at = text.find(literal, starts[line + 1]) if line + 1 < len(starts) else -1
    return hits


def _lines_matching(pattern: Rule, text: str, starts: list[int]) -> set[int]:
    """Lines where a match of `pattern` starts, searching again from the next line's start
    after each, so a line where the pattern matches on its own is never passed over."""
    hits, at = set(), 0
    while (match := pattern.search(text, at)) is not None:
        line = bisect.bisect_right(starts, match.start()) - 1
        hits.add(line)
        if line + 1 >= len(starts) - 1:
            break
        at = starts[line + 1]
    return hits


def _disjoint(spans: list[Secret]) -> list[Secret]:
    out: list[Secret] = []
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if out and span.start < out[-1].end:
            if span.end > out[-1].end:
                out[-1] = Secret(out[-1].start, span.end, out[-1].kind)
            continue
        out.append(span)
    return out


def _replace(line: str, found: list[Secret]) -> str:
    for secret in sorted(found, key=lambda s: -s.start):
        line = line[:secret.start] + REDACTED + line[secret.end:]
    return line


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _mixed(text: str) -> bool:
    """Letters and digits both present: an identifier or a word is not a key."""
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _prefix(line: str) -> str:
    """The diff/line-number prefix of a rendered line, so redacted key bodies keep their place."""
    match = re.match(r"^[ \d]*[+\- ]?\s?", line)
    return match.group(0) if match else ""
