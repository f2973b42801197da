"""A corpus of planted secrets in many formats, for the redaction tests and the secret findings.

Every format is a generator `rng -> (file path, lines, secret values)`: the lines as they would
appear in a file, and the values that must never leave the machine. Values are random (seeded),
so nothing here is a real credential.
"""

from __future__ import annotations

import random
import string

LOWER, UPPER, DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
ALNUM = LOWER + UPPER + DIGITS
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
WORDS = ("correct", "horse", "battery", "staple", "purple", "monkey", "dishwasher", "orange",
         "river", "castle", "velvet", "thunder", "maple", "crystal", "harbor", "meadow")


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    text = "".join(rng.choice(alphabet) for _ in range(n))
    if alphabet in (ALNUM, B64) and not any(c.isdigit() for c in text):
        text = text[:-1] + rng.choice(DIGITS)
    return text


def letters(rng: random.Random) -> str:
    """A letters-only password, as people write them."""
    return "".join(rng.sample(WORDS, 3))


def password(rng: random.Random) -> str:
    return pick(rng, ALNUM, 14) + rng.choice("!#%^*-")


def b64_lines(rng: random.Random, count: int, width: int = 64) -> list[str]:
    return [pick(rng, B64, width) for _ in range(count)]


def _pem(rng, kind="RSA PRIVATE KEY"):
    body = b64_lines(rng, 4)
    return ("app/keys.py", [f"-----BEGIN {kind}-----", *body, f"-----END {kind}-----"], body)


def _one_line_pem(rng):
    body = b64_lines(rng, 3)
    key = "-----BEGIN RSA PRIVATE KEY-----\\n" + "\\n".join(body) + \
        "\\n-----END RSA PRIVATE KEY-----\\n"
    return "deploy/env.sh", [f'export JWT_SIGNING="{key}"'], body


def _service_account(rng):
    body = b64_lines(rng, 3)
    key_id = pick(rng, HEX, 40)
    key = "-----BEGIN PRIVATE KEY-----\\n" + "\\n".join(body) + "\\n-----END PRIVATE KEY-----\\n"
    return ("config/gcp.json", ['  "type": "service_account",',
                                f'  "private_key_id": "{key_id}",', f'  "private_key": "{key}",'],
            [*body, key_id])


def _putty(rng):
    public, private = b64_lines(rng, 2), b64_lines(rng, 3)
    mac = pick(rng, HEX, 40)
    return ("docs/putty.txt", ["PuTTY-User-Key-File-2: ssh-rsa", "Encryption: none",
                               "Comment: rsa-key-20240101", "Public-Lines: 2", *public,
                               "Private-Lines: 3", *private, f"Private-MAC: {mac}"],
            [*private, mac])


def _ssh2(rng):
    body = b64_lines(rng, 3, 70)
    return ("docs/ssh2.txt", ["---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----",
                              'Comment: "rsa-key"', *body,
                              "---- END SSH2 ENCRYPTED PRIVATE KEY ----"], body)


def _key_body_only(rng):
    body = b64_lines(rng, 3)
    return "app/keys.py", body, body


def _simple(path: str, template: str, make) -> callable:
    def generate(rng):
        value = make(rng)
        return path, [template.format(v=value)], [value]
    return generate


FORMATS = {
    "AWS access key id": _simple("app/aws.py", 'AWS_ACCESS_KEY_ID = "{v}"',
                                 lambda r: "AKIA" + pick(r, UPPER + DIGITS, 16)),
    "AWS secret access key": _simple("app/aws.py", "aws_secret_access_key = {v}",
                                     lambda r: pick(r, B64, 40)),
    "GitHub classic token": _simple("app/gh.py", 'token = "{v}"',
                                    lambda r: "ghp_" + pick(r, ALNUM, 36)),
    "GitHub fine-grained token": _simple(".github/ci.sh", "GH_TOKEN=github_pat_{v}",
                                         lambda r: pick(r, ALNUM, 22) + "_" + pick(r, ALNUM, 59)),
    "GitLab personal token": _simple("ci/gitlab.yml", "  private-token: glpat-{v}",
                                     lambda r: pick(r, ALNUM, 20)),
    "GitLab deploy token": _simple("ci/deploy.sh", "git clone https://x:gldt-{v}@gitlab.com/a/b",
                                   lambda r: pick(r, ALNUM, 20)),
    "OpenAI project key": _simple("app/llm.py", 'client = OpenAI(api_key="sk-proj-{v}")',
                                  lambda r: pick(r, ALNUM, 48)),
    "Anthropic key": _simple("app/llm.py", "ANTHROPIC = 'sk-ant-api03-{v}'",
                             lambda r: pick(r, ALNUM + "-_", 90)),
    "Stripe live key": _simple("app/pay.py", 'stripe.api_key = "sk_live_{v}"',
                               lambda r: pick(r, ALNUM, 24)),
    "Stripe webhook secret": _simple("app/pay.py", "endpoint = handle(body, whsec_{v})",
                                     lambda r: pick(r, ALNUM, 32)),
    "Slack bot token": _simple("app/chat.py", "slack = WebClient('xoxb-{v}')",
                               lambda r: f"{pick(r, DIGITS, 11)}-{pick(r, DIGITS, 12)}-"
                                         f"{pick(r, ALNUM, 24)}"),
    "Slack webhook URL": _simple("app/chat.py", 'requests.post("https://hooks.slack.com/services/'
                                 '{v}", json=msg)',
                                 lambda r: f"T{pick(r, UPPER, 8)}/B{pick(r, UPPER, 8)}/"
                                           f"{pick(r, ALNUM, 24)}"),
    "Discord webhook URL": _simple("app/chat.py", "HOOK = 'https://discord.com/api/webhooks/{v}'",
                                   lambda r: f"{pick(r, DIGITS, 18)}/{pick(r, ALNUM, 60)}"),
    "Google API key": _simple("web/maps.js", 'const maps = load("AIza{v}");',
                              lambda r: pick(r, ALNUM, 35)),
    "Google OAuth client secret": _simple("config/oauth.json", '  "client_secret": "GOCSPX-{v}",',
                                          lambda r: pick(r, ALNUM, 28)),
    "Hugging Face token": _simple("train.py", "login('hf_{v}')", lambda r: pick(r, ALNUM, 34)),
    "npm token": _simple("web/npmrc.txt", "//registry.npmjs.org/:_authToken=npm_{v}",
                         lambda r: pick(r, ALNUM, 36)),
    "PyPI token": _simple("deploy/pypi.txt", "password = pypi-AgEIcHlwaS5vcmc{v}",
                          lambda r: pick(r, ALNUM, 80)),
    "SendGrid key": _simple("app/mail.py", "sg = SendGridAPIClient('SG.{v}')",
                            lambda r: pick(r, ALNUM, 22) + "." + pick(r, ALNUM, 43)),
    "Twilio key": _simple("app/sms.py", "TWILIO = Client('SK{v}', sid)",
                          lambda r: pick(r, HEX, 32)),
    "JSON web token": _simple("tests/fixtures.py", 'HEADERS = {{"X-Auth": "eyJ{v}"}}',
                              lambda r: f"hbGciOiJIUzI1NiJ9.eyJ{pick(r, ALNUM, 30)}."
                                        f"{pick(r, ALNUM, 43)}"),
    "Azure AccountKey": _simple("config/azure.cfg", "conn = DefaultEndpointsProtocol=https;"
                                "AccountName=acct;AccountKey={v};EndpointSuffix=core.windows.net",
                                lambda r: pick(r, B64, 86) + "=="),
    "Azure SAS signature": _simple("app/blob.py", 'url = f"{{base}}?sv=2022-11-02&sig={v}"',
                                   lambda r: pick(r, ALNUM, 40)),
    "PostgreSQL URL password": _simple("app/db.py", 'DB = "postgres://app:{v}@db:5432/app"',
                                       password),
    "Redis URL without user": _simple("app/cache.py", 'CACHE = "redis://:{v}@cache:6379/0"',
                                      password),
    "URL password containing @": _simple("app/db.py", 'DSN = "mysql://root:{v}@db/app"',
                                         lambda r: pick(r, ALNUM, 6) + "@" + pick(r, ALNUM, 6)),
    "curl -u": _simple("scripts/call.sh", "curl -u admin:{v} https://api.example.com/v1",
                       password),
    "Bearer header": _simple("scripts/call.sh", 'curl -H "Authorization: Bearer {v}" $API',
                             lambda r: pick(r, ALNUM, 32)),
    "YAML letters-only password": _simple("config/app.yaml", "  password: {v}", letters),
    "compose env list": _simple("docker-compose.yml", "      - POSTGRES_PASSWORD={v}", letters),
    "compose env map": _simple("docker-compose.yml", "      MYSQL_ROOT_PASSWORD: {v}", letters),
    "XML element": _simple("config/settings.xml", "  <password>{v}</password>", letters),
    "XML connection string": _simple("web.config", '<add name="db" connectionString="Server=db;'
                                     'User Id=sa;Password={v};"/>', password),
    ".env.example letters-only": _simple(".env.example", "DB_PASSWORD={v}", letters),
    "quoted value with quote and ;": _simple("app/settings.py", 'PASSWORD = "{v}"',
                                             lambda r: pick(r, ALNUM, 6) + "'x;" +
                                             pick(r, ALNUM, 6)),
    "unquoted value with ;": _simple("deploy/env.sh", "DB_PASS={v}",
                                     lambda r: pick(r, ALNUM, 6) + ";" + pick(r, ALNUM, 6)),
    "generic *_KEY": _simple("deploy/env.sh", "MAILGUN_KEY=key-{v}", lambda r: pick(r, HEX, 32)),
    "Django SECRET_KEY": _simple("app/settings.py", "SECRET_KEY = 'django-insecure-{v}'",
                                 lambda r: pick(r, ALNUM + "!@#%^&*(-_=+)", 50)),
    "webhook secret": _simple("app/hooks.py", 'GITHUB_WEBHOOK_SECRET = "{v}"', letters),
    "deploy token": _simple("ci/deploy.yml", "  DEPLOY_TOKEN: {v}", lambda r: pick(r, ALNUM, 32)),
    "OAuth client secret": _simple("deploy/env.sh", "OAUTH_CLIENT_SECRET={v}",
                                   lambda r: pick(r, ALNUM, 32)),
    "PHP define": _simple("wp-config.php", "define( 'DB_PASSWORD', '{v}' );", letters),
    "default value in a signature": _simple("app/db.py", 'def connect(host, password="{v}"):',
                                            password),
    "DigitalOcean token": _simple("infra/do.tf", 'token = "dop_v1_{v}"',
                                  lambda r: pick(r, HEX, 64)),
    "Shopify token": _simple("app/shop.py", "SHOP = 'shpat_{v}'", lambda r: pick(r, HEX, 32)),
    "Vault token": _simple("infra/vault.sh", "export VAULT_ADDR=x VT=hvs.{v}",
                           lambda r: pick(r, ALNUM, 24)),
    "Mailchimp key": _simple("app/mail.py", "mc.set_config({{'api': '{v}-us12'}})",
                             lambda r: pick(r, HEX, 32)),
    "Telegram bot token": _simple("bot.py", "bot = Bot('{v}')",
                                  lambda r: pick(r, DIGITS, 9) + ":" + pick(r, ALNUM, 35)),
    "Databricks token": _simple("jobs/run.py", "host.auth('dapi{v}')", lambda r: pick(r, HEX, 32)),
    "high-entropy quoted string": _simple("app/consts.py", 'SEED = {{"a": "{v}"}}',
                                          lambda r: pick(r, ALNUM, 40)),
    "PEM RSA block": _pem,
    "OpenSSH key block": lambda r: _pem(r, "OPENSSH PRIVATE KEY"),
    "PGP private key block": lambda r: _pem(r, "PGP PRIVATE KEY BLOCK"),
    "one-line PEM with \\n escapes": _one_line_pem,
    "service-account JSON": _service_account,
    "PuTTY key": _putty,
    "SSH2 encrypted key": _ssh2,
    "key body only": _key_body_only,
}


def corpus_patch(seed: int = 11) -> tuple[str, dict[str, list[str]]]:
    """A patch where every format appears as a context, a removed and an added line (fresh
    values each), one hunk per format; and the secrets planted, by format."""
    rng = random.Random(seed)
    files: dict[str, list[str]] = {}
    planted: dict[str, list[str]] = {}
    for name, generate in FORMATS.items():
        (path, context, a), (_, removed, b), (_, added, c) = (generate(rng) for _ in range(3))
        planted[name] = [*a, *b, *c]
        start = sum(1 for _ in files.get(path, ())) + 1
        lines = [f" {x}" for x in context] + [f"-{x}" for x in removed] + [f"+{x}" for x in added]
        old, new = len(context) + len(removed), len(context) + len(added)
        hunk = [f"@@ -{start},{old} +{start},{new} @@", *lines]
        files.setdefault(path, []).extend(hunk)
    patch = "".join(f"diff --git a/{p} b/{p}\n--- a/{p}\n+++ b/{p}\n" + "\n".join(h) + "\n"
                    for p, h in files.items())
    return patch, planted
