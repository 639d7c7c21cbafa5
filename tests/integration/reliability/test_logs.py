"""Logs never contain a lead's email, phone or street: a whole pipeline run is captured and searched.

Leads with distinctive contact data go through intake, tagging, assignment and writeback; some of their events are
malformed in ways that put the contact data next to the error (wrong types, a Salesforce validation message quoting
the email), so error paths log too. Everything the handlers write (the powertools loggers' stream, stdout, stderr
at the file-descriptor level) is captured; none of the values may appear, while the lead ids must (proof that
the capture saw the run).
"""

from __future__ import annotations

import copy
import logging
import re
import sys

from territory_router_tools.salesforce.samples import cdc_update_event

from .pipeline import ORG_ID, Pipeline, create_events, make_leads


def test_pipeline_logs_carry_no_email_phone_or_street(pipeline: Pipeline, capfd, figures) -> None:
    leads = [
        lead.model_copy(update={
            "email": f"hidden.person{i}@private-mail.test",
            "phone": f"+1 (415) 555-01{i:02d}",
            "street": f"{100 + i} Hidden Orchard Lane",
        })
        for i, lead in enumerate(make_leads(6, "LOG"))
    ]
    secrets = [v for lead in leads for v in (lead.email, lead.phone, lead.street)]
    secrets = [s for s in secrets if len(s) > 4] + ["Hidden Orchard", "private-mail"]
    events = create_events(leads)
    # malformed twins: contact data sits right next to what is wrong
    bad_types = copy.deepcopy(events[0])
    payload = bad_types["detail"]["payload"]
    payload.setdefault("Address", {})["Latitude"] = f"near {leads[0].street}"
    payload["Email"] = {"value": leads[0].email}
    no_header = copy.deepcopy(events[1])
    no_header["detail"]["payload"].pop("ChangeEventHeader", None)
    no_header["detail"]["payload"].pop("Lead_Id__c", None)
    # an update that changes the contact data (intake follows it)
    update = cdc_update_event(leads[2].lead_id, {"Email": "new." + leads[2].email, "Phone": leads[2].phone},
                              org_id=ORG_ID)
    secrets.append("new." + leads[2].email)
    # Salesforce refuses one writeback quoting the email, as validation rules do
    pipeline.salesforce.fail_record(leads[3].lead_id, "INVALID_EMAIL_ADDRESS",
                                    f"Email: invalid email address: {leads[3].email}")

    powertools = [h for h in logging.getLogger("territory-router").handlers if isinstance(h, logging.StreamHandler)]
    assert powertools, "the handlers' powertools logger has a stream handler"
    previous = [h.setStream(sys.stdout) for h in powertools]  # the capfd-captured stdout
    root = logging.getLogger()
    stdlib = logging.StreamHandler(sys.stderr)  # stdlib loggers (territory_router.*) as Lambda's runtime prints them
    root.addHandler(stdlib)
    try:
        pipeline.publish([*events, bad_types, no_header])
        pipeline.wait()
        pipeline.publish([update])
        pipeline.wait()
    finally:
        root.removeHandler(stdlib)
        for h, stream in zip(powertools, previous, strict=True):
            h.setStream(stream)
    captured = capfd.readouterr()
    text = captured.out + captured.err
    pipeline.drain("IntakeDLQ"), pipeline.drain("WritebackDLQ")

    assert "Salesforce event set aside" in text and "batch tagged" in text  # the capture saw the run
    # redaction takes the contact data, not the log's own timestamps and ARNs
    assert re.search(r'"timestamp":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', text)
    assert '"timestamp":"[redacted]' not in text and ":[redacted]:function:" not in text
    leaked = sorted({s for s in secrets if s in text})
    assert leaked == [], f"personal data in the logs: {leaked}"
    figures("logs", {
        "leads": len(leads),
        "events": len(events) + 3,
        "log_lines_captured": text.count("\n"),
        "contact_values_searched": len(set(secrets)),
        "found_in_logs": 0,
    })
