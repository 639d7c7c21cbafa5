"""The Salesforce DX package in infra/salesforce: well-formed metadata that matches what the code reads/writes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from territory_router.salesforce.events import _PLATFORM_FIELD_MAP, LEAD_ROUTING_EVENT
from territory_router.salesforce.writeback_rules import WritebackFieldMap

ROOT = Path(__file__).resolve().parents[3] / "infra" / "salesforce"
DEFAULT = ROOT / "force-app" / "main" / "default"
NS = "http://soap.sforce.com/2006/04/metadata"
XML_FILES = sorted(ROOT.rglob("*.xml"))

# file suffix -> (root element, required child elements)
REQUIRED = {
    ".object-meta.xml": ("CustomObject", {"label", "pluralLabel", "deploymentStatus", "eventType", "publishBehavior"}),
    ".field-meta.xml": ("CustomField", {"fullName", "label", "type"}),
    ".permissionset-meta.xml": ("PermissionSet", {"label"}),
    ".namedCredential-meta.xml": ("NamedCredential", {"endpoint", "label", "principalType", "protocol"}),
    ".platformEventChannel-meta.xml": ("PlatformEventChannel", {"channelType", "label"}),
    ".platformEventChannelMember-meta.xml": ("PlatformEventChannelMember", {"eventChannel", "selectedEntity"}),
    ".eventRelay-meta.xml": ("EventRelayConfig", {"destinationResourceName", "eventChannel", "label", "state"}),
    ".flow-meta.xml": ("Flow", {"apiVersion", "label", "processType", "start", "status"}),
    ".notiftype-meta.xml": ("CustomNotificationType", {"customNotifTypeName", "masterLabel"}),
    ".customPermission-meta.xml": ("CustomPermission", {"label"}),
}


def _suffix(path: Path) -> str:
    name = path.name
    return name[name.index(".") :]


def _parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def _text(root: ET.Element, tag: str) -> str | None:
    node = root.find(f"{{{NS}}}{tag}")
    return node.text if node is not None else None


def _children(root: ET.Element) -> set[str]:
    return {child.tag.split("}", 1)[1] for child in root}


def test_sfdx_project() -> None:
    project = json.loads((ROOT / "sfdx-project.json").read_text())
    (package,) = project["packageDirectories"]
    assert package["default"] is True and (ROOT / package["path"]).is_dir()
    assert float(project["sourceApiVersion"]) >= 56.0  # Event Relay metadata needs API 56+


def test_every_xml_file_is_known_and_complete() -> None:
    assert len(XML_FILES) >= 30
    for path in XML_FILES:
        suffix = _suffix(path)
        assert suffix in REQUIRED, f"unexpected metadata file {path.relative_to(ROOT)}"
        root_tag, required = REQUIRED[suffix]
        root = _parse(path)
        assert root.tag == f"{{{NS}}}{root_tag}", path.name
        missing = required - _children(root)
        assert not missing, f"{path.name} lacks {sorted(missing)}"


@pytest.mark.parametrize("path", [p for p in XML_FILES if p.name.endswith(".field-meta.xml")], ids=lambda p: p.name)
def test_field_full_name_matches_file_and_has_a_size(path: Path) -> None:
    root = _parse(path)
    assert _text(root, "fullName") == path.name.removesuffix(".field-meta.xml")
    field_type = _text(root, "type")
    if field_type in ("Text", "LongTextArea"):
        assert int(_text(root, "length")) > 0
    if field_type == "Number":
        precision, scale = int(_text(root, "precision")), int(_text(root, "scale"))
        assert precision <= 18 and precision - scale >= 3  # room for ±180 degrees


def test_platform_event_has_every_field_the_parser_reads() -> None:
    folder = DEFAULT / "objects" / LEAD_ROUTING_EVENT
    assert (folder / f"{LEAD_ROUTING_EVENT}.object-meta.xml").is_file()
    fields = {p.name.removesuffix(".field-meta.xml") for p in (folder / "fields").glob("*.field-meta.xml")}
    assert set(_PLATFORM_FIELD_MAP) | {"Lead_Id__c"} <= fields
    lead_id = _parse(folder / "fields" / "Lead_Id__c.field-meta.xml")
    assert _text(lead_id, "required") == "true"


def test_lead_custom_fields_match_the_writeback_field_map() -> None:
    written = WritebackFieldMap().router_fields() - {"OwnerId"}
    folder = DEFAULT / "objects" / "Lead" / "fields"
    fields = {p.name.removesuffix(".field-meta.xml"): _parse(p) for p in folder.glob("*.field-meta.xml")}
    assert written == set(fields)
    for name in ("Territory__c", "Routing_Reason__c"):
        assert int(_text(fields[name], "length")) == 255  # writeback truncates to 255


def test_integration_permission_set_can_write_every_field() -> None:
    root = _parse(DEFAULT / "permissionsets" / "Territory_Router_Integration.permissionset-meta.xml")
    editable = {
        _text(fp, "field") for fp in root.findall(f"{{{NS}}}fieldPermissions") if _text(fp, "editable") == "true"
    }
    assert {f"Lead.{n}" for n in WritebackFieldMap().router_fields() - {"OwnerId"}} == editable
    objects = {_text(op, "object"): op for op in root.findall(f"{{{NS}}}objectPermissions")}
    assert _text(objects["Lead"], "allowEdit") == "true" and _text(objects["Lead"], "allowDelete") == "false"
    perms = {_text(up, "name") for up in root.findall(f"{{{NS}}}userPermissions") if _text(up, "enabled") == "true"}
    assert {"ApiEnabled", "TransferAnyLead"} <= perms


def test_event_relays_point_at_existing_channels_and_credential() -> None:
    credentials = {p.name.removesuffix(".namedCredential-meta.xml") for p in DEFAULT.glob("namedCredentials/*")}
    channels = {p.name.removesuffix(".platformEventChannel-meta.xml"): _parse(p)
                for p in DEFAULT.glob("platformEventChannels/*")}
    members = [_parse(p) for p in DEFAULT.glob("platformEventChannelMembers/*")]
    relays = [_parse(p) for p in DEFAULT.glob("eventRelays/*")]
    assert len(relays) == 2
    for relay in relays:
        destination = _text(relay, "destinationResourceName")
        assert destination.startswith("callout:") and destination.removeprefix("callout:") in credentials
        assert _text(relay, "eventChannel") in channels
        assert _text(relay, "state") in {"STOP", "RUN", "PAUSE"}
        assert json.loads(_text(relay, "relayOption"))["ReplayRecovery"] in {"LATEST", "EARLIEST"}
    selected = {(_text(m, "eventChannel"), _text(m, "selectedEntity")) for m in members}
    types = {name: _text(root, "channelType") for name, root in channels.items()}
    # One channel holds either change events or platform events, never both.
    for channel, entity in selected:
        assert channel in channels
        assert types[channel] == ("data" if entity.endswith("ChangeEvent") else "event")
    # Activities share the Lead change channel: a Task/Event on a lead is how a rep's call or email shows up.
    assert {entity for _, entity in selected} == {"LeadChangeEvent", "TaskChangeEvent", "EventChangeEvent",
                                                  LEAD_ROUTING_EVENT}


def test_channel_member_file_names_follow_the_developer_name_rule() -> None:
    # ChannelName_EventName with the channel's double underscore collapsed to one (PlatformEventChannelMember,
    # Tooling API DeveloperName): Territory_Router_Lead_Changes__chn + TaskChangeEvent
    for path in DEFAULT.glob("platformEventChannelMembers/*"):
        root = _parse(path)
        channel, entity = _text(root, "eventChannel"), _text(root, "selectedEntity")
        expected = f"{channel.replace('__', '_')}_{entity}"
        assert path.name == f"{expected}.platformEventChannelMember-meta.xml"


def test_named_credential_endpoint_is_an_eventbridge_account_arn() -> None:
    (path,) = DEFAULT.glob("namedCredentials/*")
    endpoint = _text(_parse(path), "endpoint")
    parts = endpoint.split(":")
    assert parts[:2] == ["arn", "aws"] and parts[2] == parts[2].upper() and len(parts[3]) == 12
