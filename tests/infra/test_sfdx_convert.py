"""The Salesforce package converts to a deployable metadata API package with Salesforce's own library.

``@salesforce/source-deploy-retrieve`` is the engine of ``sf project convert source`` and of deploys: it rejects
unknown metadata types and misnamed files. The npm project (exact versions, lock file) is tests/infra/sfdx; it is
installed once with ``npm ci`` into a cache folder outside the repository (``TR_SFDX_CACHE`` or
``~/.cache/territory-router``). Skipped when Node.js is not installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "infra" / "salesforce"
DEFAULT = PROJECT / "force-app" / "main" / "default"
NPM_PROJECT = Path(__file__).resolve().parent / "sfdx"
NS = "{http://soap.sforce.com/2006/04/metadata}"

# Our own reading of the source layout (not SDR's): folder -> metadata type, and how a file names its component.
TYPE_BY_FOLDER = {
    "eventRelays": "EventRelayConfig",
    "namedCredentials": "NamedCredential",
    "permissionsets": "PermissionSet",
    "platformEventChannelMembers": "PlatformEventChannelMember",
    "platformEventChannels": "PlatformEventChannel",
    "flows": "Flow",
    "notificationtypes": "CustomNotificationType",
    "customPermissions": "CustomPermission",
}


def _expected_components() -> set[tuple[str, str]]:
    expected: set[tuple[str, str]] = set()
    for path in DEFAULT.rglob("*-meta.xml"):
        parts = path.relative_to(DEFAULT).parts
        name = path.name.split(".", 1)[0]
        if parts[0] == "objects":
            obj = parts[1]
            if (DEFAULT / "objects" / obj / f"{obj}.object-meta.xml").exists():
                expected.add(("CustomObject", obj))  # its fields are children of the object
            elif parts[2] == "fields":
                expected.add(("CustomField", f"{obj}.{name}"))  # a standard object: the fields alone
        else:
            expected.add((TYPE_BY_FOLDER[parts[0]], name))
    return expected


def _installed() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js/npm not installed: the package conversion check needs them")
    lock = (NPM_PROJECT / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (NPM_PROJECT / "package.json").read_bytes()).hexdigest()[:12]
    root = Path(os.environ.get("TR_SFDX_CACHE") or Path.home() / ".cache" / "territory-router") / f"sfdx-{digest}"
    if not (root / "node_modules" / "@salesforce" / "source-deploy-retrieve").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(NPM_PROJECT / name, root / name)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=root, check=True,
                       timeout=600, capture_output=True)
    shutil.copy2(NPM_PROJECT / "convert.mjs", root / "convert.mjs")
    return root


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict:
    root = _installed()
    out = tmp_path_factory.mktemp("mdapi")
    proc = subprocess.run(["node", str(root / "convert.mjs"), str(PROJECT), str(out)], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    result["out"] = Path(result["packagePath"])
    return result


def test_the_package_converts_to_exactly_the_components_of_its_files(converted) -> None:
    found = {(c["type"], c["fullName"]) for c in converted["components"]}
    assert found == _expected_components()
    # 14, the notification flow, its notification type, its custom permission, the precision field (18), and the
    # activity members of the change channel (Task/Event change events: a logged call is attention)
    assert len(found) == 20
    assert {("PlatformEventChannelMember", "Territory_Router_Lead_Changes_chn_TaskChangeEvent"),
            ("PlatformEventChannelMember", "Territory_Router_Lead_Changes_chn_EventChangeEvent")} <= found
    assert {("Flow", "Territory_Router_Notify_Lead_Owner"),
            ("CustomNotificationType", "Territory_Router_Lead_Assigned"),
            ("CustomPermission", "Territory_Router_Integration")} <= found
    package = ET.fromstring(converted["packageXml"])
    assert package.findtext(f"{NS}version") == json.loads((PROJECT / "sfdx-project.json").read_text())["sourceApiVersion"]
    assert (converted["out"] / "package.xml").is_file()


def test_the_converted_flow_notifies_the_new_owner_only_for_our_assignments(converted) -> None:
    flow = ET.parse(converted["out"] / "flows" / "Territory_Router_Notify_Lead_Owner.flow").getroot()
    start = flow.find(f"{NS}start")
    assert flow.findtext(f"{NS}status") == "Active" and flow.findtext(f"{NS}processType") == "AutoLaunchedFlow"
    assert (start.findtext(f"{NS}object"), start.findtext(f"{NS}triggerType"), start.findtext(f"{NS}recordTriggerType")) \
        == ("Lead", "RecordAfterSave", "Update")
    formula = start.findtext(f"{NS}filterFormula")
    assert "ISCHANGED({!$Record.OwnerId})" in formula and "{!$Permission.Territory_Router_Integration}" in formula
    actions = {a.findtext(f"{NS}name"): a.findtext(f"{NS}actionType") for a in flow.findall(f"{NS}actionCalls")}
    assert actions == {"Notify_New_Owner": "customNotificationAction", "Email_New_Owner": "emailSimple"}
    lookup = next(r for r in flow.findall(f"{NS}recordLookups") if r.findtext(f"{NS}object") == "CustomNotificationType")
    assert lookup.find(f"{NS}filters/{NS}value/{NS}stringValue").text == "Territory_Router_Lead_Assigned"
    assert (converted["out"] / "notificationtypes" / "Territory_Router_Lead_Assigned.notiftype").is_file()
    # the custom permission the flow checks is granted to the integration user's permission set
    permset = ET.parse(converted["out"] / "permissionsets" / "Territory_Router_Integration.permissionset").getroot()
    granted = {c.findtext(f"{NS}name") for c in permset.findall(f"{NS}customPermissions")
               if c.findtext(f"{NS}enabled") == "true"}
    assert granted == {"Territory_Router_Integration"}
    # e-mail is opt-in
    constant = next(c for c in flow.findall(f"{NS}constants") if c.findtext(f"{NS}name") == "Send_Email")
    assert constant.find(f"{NS}value/{NS}booleanValue").text == "false"


def test_the_echo_filter_written_by_the_cli_survives_conversion(tmp_path) -> None:
    """``territory-router salesforce echo-filter`` writes the LeadChangeEvent member's filterExpression (Metadata API
    56.0 and later: the package's source API version must allow it); SDR carries it into the deployable package."""
    from territory_router_tools.cli.main import main
    from territory_router_tools.salesforce.channel_filter import echo_filter_expression

    assert float(json.loads((PROJECT / "sfdx-project.json").read_text())["sourceApiVersion"]) >= 56.0
    project = tmp_path / "salesforce"
    shutil.copytree(PROJECT, project)
    user = "005xx000000IntgAAC"
    assert main(["salesforce", "echo-filter", "--integration-user-id", user,
                 "--package", str(project / "force-app" / "main" / "default")]) == 0
    root = _installed()
    out = tmp_path / "mdapi"
    proc = subprocess.run(["node", str(root / "convert.mjs"), str(project), str(out)], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert {(c["type"], c["fullName"]) for c in result["components"]} == _expected_components()
    member = ET.parse(Path(result["packagePath"]) / "platformEventChannelMembers"
                      / "Territory_Router_Lead_Changes_chn_LeadChangeEvent.platformEventChannelMember").getroot()
    assert member.findtext(f"{NS}filterExpression") == echo_filter_expression(user)
    assert [child.tag.removeprefix(NS) for child in member] == ["eventChannel", "filterExpression", "selectedEntity"]
    # the other members stay unfiltered: our integration writes no Task or Event
    task = ET.parse(Path(result["packagePath"]) / "platformEventChannelMembers"
                    / "Territory_Router_Lead_Changes_chn_TaskChangeEvent.platformEventChannelMember").getroot()
    assert task.find(f"{NS}filterExpression") is None
