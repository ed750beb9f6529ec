"""`make audit`: known vulnerabilities of every pin in requirements.lock, from PyPI's data.

pip-audit asks PyPI's JSON API about each pinned release (`/pypi/<name>/<version>/json`). Where
that endpoint does not answer (a mirror or proxy that serves only `/pypi/<name>/json`), pip-audit
skips the package as "not found on PyPI" and still exits 0: an audit that cannot fail. So this
script runs pip-audit, then, for each package it skipped, reads the project's JSON, whose
`vulnerabilities` are those of the latest release, and uses them when the pin *is* the latest
release. A pin older than the latest release cannot be audited that way; it is listed as
unaudited.

Exit status: 0 when no known vulnerability remains outside `IGNORED_VULNERABILITIES`; 1 when
one does, when PyPI could not be read, or (with --strict) when a pin could not be audited.

Run: `.venv/bin/python tools/audit_dependencies.py [--strict] [--lock requirements.lock]`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LOCK = REPO / "requirements.lock"
PROJECT_JSON_URL = "https://pypi.org/pypi/{name}/json"
TIMEOUT_SECONDS = 30.0
PARALLEL_REQUESTS = 8

# Vulnerability id -> why it is accepted. Keep in step with README's "Dependency audit".
IGNORED_VULNERABILITIES: dict[str, str] = {}


@dataclass
class Finding:
    """One known vulnerability of a pinned release."""

    name: str
    version: str
    id: str
    fixed_in: list[str]
    source: str


@dataclass
class Audit:
    """What the audit saw: findings, and the pins each way of auditing covered."""

    findings: list[Finding] = field(default_factory=list)
    by_pip_audit: list[str] = field(default_factory=list)
    by_project_json: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def canonical(name: str) -> str:
    """A package name as PyPI and pip-audit spell it (PEP 503: `ruamel.yaml` -> `ruamel-yaml`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock: Path) -> dict[str, str]:
    """`name==version` lines of a lock file, by canonical name."""
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            pins[canonical(name.strip())] = version.strip()
    return pins


def run_pip_audit(lock: Path) -> dict:
    """pip-audit's JSON report of the lock file (pins taken as they are, no resolution)."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(lock),
        "--no-deps",
        "--disable-pip",
        "--vulnerability-service",
        "pypi",
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    for vulnerability in IGNORED_VULNERABILITIES:
        command += ["--ignore-vuln", vulnerability]
    # pip-audit exits 1 when it finds something; the report on stdout says what.
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        message = f"pip-audit gave no report (exit {done.returncode}):\n{done.stderr}"
        raise SystemExit(message) from None


def _ignored(vulnerability: dict) -> bool:
    names = {vulnerability.get("id"), *(vulnerability.get("aliases") or [])}
    return bool(names & IGNORED_VULNERABILITIES.keys())


def _project_json(client: httpx.Client, name: str) -> dict:
    answer = client.get(PROJECT_JSON_URL.format(name=name))
    answer.raise_for_status()
    return answer.json()


def audit(pins: dict[str, str], report: dict, client: httpx.Client) -> Audit:
    """Read pip-audit's report, then PyPI's project JSON for the pins pip-audit skipped.

    Args:
        pins: Pinned versions by canonical name (`read_pins`).
        report: pip-audit's JSON report (`run_pip_audit`).
        client: The HTTP client for PyPI.
    """
    result = Audit()
    skipped: list[str] = []
    for dependency in report["dependencies"]:
        name = canonical(dependency["name"])
        if "skip_reason" in dependency:
            skipped.append(name)
            continue
        result.by_pip_audit.append(name)
        for vulnerability in dependency.get("vulns", []):
            result.findings.append(
                Finding(
                    name,
                    dependency["version"],
                    vulnerability["id"],
                    vulnerability.get("fix_versions", []),
                    "pip-audit",
                )
            )
    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        answers = dict(zip(skipped, pool.map(lambda n: _safe(client, n), skipped), strict=True))
    for name, answer in answers.items():
        version = pins.get(name, "?")
        if isinstance(answer, str):
            result.errors.append(f"{name}: {answer}")
            continue
        latest = answer["info"]["version"]
        if latest != version:
            result.unaudited.append(f"{name}=={version} (latest {latest})")
            continue
        result.by_project_json.append(name)
        for vulnerability in answer.get("vulnerabilities") or []:
            if vulnerability.get("withdrawn") or _ignored(vulnerability):
                continue
            result.findings.append(
                Finding(
                    name,
                    version,
                    vulnerability["id"],
                    vulnerability.get("fixed_in") or [],
                    "PyPI project JSON",
                )
            )
    return result


def _safe(client: httpx.Client, name: str) -> dict | str:
    try:
        return _project_json(client, name)
    except (httpx.HTTPError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK)
    parser.add_argument("--strict", action="store_true", help="Fail on pins not audited.")
    arguments = parser.parse_args()
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=True) as client:
        result = audit(read_pins(arguments.lock), run_pip_audit(arguments.lock), client)
    for finding in result.findings:
        fixed = ", ".join(finding.fixed_in) or "no fix yet"
        print(f"VULNERABLE {finding.name}=={finding.version}: {finding.id} (fixed in {fixed})")
    for error in result.errors:
        print(f"ERROR could not read PyPI for {error}")
    for pin in result.unaudited:
        print(f"UNAUDITED {pin}: PyPI's data here covers only the latest release")
    for vulnerability, reason in IGNORED_VULNERABILITIES.items():
        print(f"IGNORED {vulnerability}: {reason}")
    print(
        f"audit: {len(result.by_pip_audit) + len(result.by_project_json)} pins audited "
        f"({len(result.by_pip_audit)} by pip-audit, {len(result.by_project_json)} by PyPI's "
        f"project JSON), {len(result.unaudited)} unaudited, {len(result.errors)} unreadable, "
        f"{len(result.findings)} known vulnerabilities"
    )
    failed = result.findings or result.errors or (arguments.strict and result.unaudited)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
