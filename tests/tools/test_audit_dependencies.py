"""The dependency audit can fail: a vulnerability, an unreadable PyPI, an unaudited pin."""

from __future__ import annotations

import httpx

from tools.audit_dependencies import audit, canonical, read_pins

VULNERABILITY = {
    "id": "PYSEC-2099-1",
    "aliases": ["CVE-2099-1"],
    "fixed_in": ["2.0.1"],
    "withdrawn": None,
}


def _pypi(projects: dict[str, dict]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        name = request.url.path.split("/")[2]
        if name not in projects:
            return httpx.Response(503)
        return httpx.Response(200, json=projects[name])

    return httpx.Client(transport=httpx.MockTransport(answer))


def _skipped(*names: str) -> dict:
    return {"dependencies": [{"name": n, "skip_reason": "not found on PyPI"} for n in names]}


def test_audit_reads_pins_by_canonical_name(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("ruamel.yaml==0.19.1\nTyping_Extensions==4.16.0 ; python_version < '4'\n")

    assert read_pins(lock) == {"ruamel-yaml": "0.19.1", "typing-extensions": "4.16.0"}
    assert canonical("Foo.Bar_baz") == "foo-bar-baz"


def test_audit_finds_a_vulnerability_of_a_latest_pin_that_pip_audit_skipped():
    projects = {
        "lib": {"info": {"version": "2.0.0"}, "vulnerabilities": [VULNERABILITY]},
        "clean": {"info": {"version": "1.0.0"}, "vulnerabilities": []},
    }
    result = audit({"lib": "2.0.0", "clean": "1.0.0"}, _skipped("lib", "clean"), _pypi(projects))

    assert [(f.name, f.id, f.fixed_in) for f in result.findings] == [
        ("lib", "PYSEC-2099-1", ["2.0.1"])
    ]
    assert sorted(result.by_project_json) == ["clean", "lib"]


def test_audit_keeps_pip_audit_findings_and_lists_what_it_cannot_audit():
    report = {
        "dependencies": [
            {"name": "A", "version": "1", "vulns": [{"id": "GHSA-x", "fix_versions": ["2"]}]},
            *_skipped("old", "gone")["dependencies"],
        ]
    }
    projects = {"old": {"info": {"version": "9.0"}, "vulnerabilities": [VULNERABILITY]}}
    result = audit({"a": "1", "old": "1.0", "gone": "1.0"}, report, _pypi(projects))

    assert [(f.name, f.id) for f in result.findings] == [("a", "GHSA-x")]
    assert result.unaudited == ["old==1.0 (latest 9.0)"]
    assert len(result.errors) == 1
    assert result.errors[0].startswith("gone: HTTPStatusError")
