"""No secret in the repository: configuration takes secrets from the environment only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG_SUFFIXES = {".yaml", ".yml", ".toml", ".ini", ".cfg", ".env", ".json"}
PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "partner access token": re.compile(r"\baccess-(?:sandbox|development|production)-[0-9a-f]{8}-"),
    "secret assigned in config": re.compile(
        r"(?im)^\s*[\w.-]*(?:password|secret|token|api_key)[\w.-]*\s*[:=]\s*"
        r"['\"]?(?!\$\{|env\b|<)[^\s'\"#]{6,}"),
}


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return [ROOT / p for p in out]


def findings(path: Path, text: str) -> list[str]:
    found = []
    for name, pattern in PATTERNS.items():
        if name == "secret assigned in config" and path.suffix not in CONFIG_SUFFIXES \
                and path.name not in ("dev", "run"):
            continue
        if pattern.search(text):
            found.append(name)
    return found


def test_the_scanner_catches_what_it_looks_for() -> None:
    assert findings(Path("x.yaml"), "password: hunter2hunter2") == ["secret assigned in config"]
    assert findings(Path("x.yaml"), "password:\n  env: DAGSTER_PG_PASSWORD") == []
    assert findings(Path("x.py"), "AKIA" + "ABCDEFGHIJKLMNOP") == ["AWS access key id"]
    assert findings(Path("x.py"), "-----BEGIN RSA " + "PRIVATE KEY-----") == ["private key"]


def test_no_secret_in_any_tracked_file() -> None:
    files = tracked()
    assert len(files) > 100
    problems = {}
    for path in files:
        if path.name == "uv.lock" or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        if found := findings(path, text):
            problems[str(path.relative_to(ROOT))] = found
    assert not problems
    # No key material tracked at all.
    assert not [p for p in files if p.suffix in (".key", ".pem") or p.name == "secrets.toml"]


def test_dagster_instance_config_takes_credentials_from_the_environment() -> None:
    prod = yaml.safe_load((ROOT / "dagster.production.yaml").read_text())
    pg = prod["storage"]["postgres"]["postgres_db"]
    assert pg.pop("scheme") == "postgresql+psycopg2"  # the driver, not a credential
    assert all(isinstance(v, dict) and set(v) == {"env"} for v in pg.values()), pg
    local = (ROOT / "dagster.yaml").read_text()
    assert "password" not in local.lower()


def test_local_secrets_and_data_are_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in (".finlake/", ".streamlit/secrets.toml", "*.key"):
        assert entry in ignored
