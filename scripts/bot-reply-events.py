#!/usr/bin/env python3
"""Writes events/bot-reply/*.json and events/survey/*.json: SQS events as Lambda delivers them
to bot-reply (inbound message, agent reply, note, close, inactivity timer) and to survey
(a closed conversation, a customer's survey reply).

Keys use the local stack's pseudonym key, so the contact is the sample customer of
events/whatsapp-webhook (4917612345678) as the local stack sees her. Bodies carry keys and, for
agent actions, the agent's text; never a phone number.
"""
import hashlib
import hmac
import json
import pathlib

PSEUDONYM_KEY = b"servicekanal-local-pseudonym-key-not-for-production"
CUSTOMER = "4917612345678"
EVENTS_DIR = pathlib.Path(__file__).resolve().parent.parent / "events"
REGION = "eu-central-1"
ACCOUNT = "123456789012"
T0 = 1795255200  # 2026-11-21T10:00:00Z

# Crockford base32 ULIDs (fixed, so the files are stable).
INBOUND_ID = "01KAK3ZQ00Y0F2M4N6P8R0T2V4"
CONVERSATION_ID = "01KAK3YH00A1B2C3D4E5F6G7H8"
REPLY_ACTION = "01KAK42Z00QK5JXB0C8D2E4F6G"
NOTE_ACTION = "01KAK44X00QK5JXB0C8D2E4F6H"
CLOSE_ACTION = "01KAK46V00QK5JXB0C8D2E4F6J"


def pseudonym(wa_id):
    tag = hmac.new(PSEUDONYM_KEY, b"contact\x00" + wa_id.encode(), hashlib.sha256).digest()
    return tag[:16].hex()


CONTACT = pseudonym(CUSTOMER)
CONVERSATION = {"contact": CONTACT, "conversation": CONVERSATION_ID}


def iso(seconds):
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def record(n, queue, body, fifo_ids=None):
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": str((T0 + n) * 1000),
        "SenderId": "AROAEXAMPLEROLEID:servicekanal-dev-WhatsAppWebhookFunction",
        "ApproximateFirstReceiveTimestamp": str((T0 + n) * 1000 + 40),
    }
    if fifo_ids:
        group, dedup = fifo_ids
        attributes.update(
            {
                "MessageGroupId": group,
                "MessageDeduplicationId": dedup,
                "SequenceNumber": f"1887{n:016d}",
            }
        )
    return {
        "messageId": f"6c1b2f4e-8d3a-4b5c-9e7f-{n:012d}",
        "receiptHandle": f"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{n:04d}Example==",
        "body": text,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def agent_action(n, action_id, act):
    body = {"type": "agent-action", "action_id": action_id, "conversation": CONVERSATION,
            "agent": "agent-07"}
    body.update(act)
    return record(n, "servicekanal-dev-agent-actions.fifo", body, (CONTACT, action_id))


EVENTS = {
    "inbound-message": record(
        1,
        "servicekanal-dev-inbound.fifo",
        {
            "type": "inbound",
            "message": {"pk": f"C#{CONTACT}", "sk": f"MSG#{INBOUND_ID}"},
            "received_at": iso(T0 + 1),
        },
        (CONTACT, f"MSG#{INBOUND_ID}"),
    ),
    "agent-reply": agent_action(
        2,
        REPLY_ACTION,
        {"act": "reply", "text": "Hallo Frau Mustermann, ich kümmere mich um Ihre Kündigung."},
    ),
    "agent-note": agent_action(
        3, NOTE_ACTION, {"act": "note", "text": "Kündigung zum 31.12. im CRM erfasst."}
    ),
    "agent-close": agent_action(4, CLOSE_ACTION, {"act": "close"}),
    "inactivity-timer": record(
        5,
        "servicekanal-dev-timers",
        {"type": "inactivity-timer", "conversation": CONVERSATION, "due_at": iso(T0 + 1800)},
    ),
}


SURVEY_REPLY_ID = "01KAK4A100S7V9X1Z3B5D7F9H1"

SURVEY_EVENTS = {
    "conversation-closed": record(
        6,
        "servicekanal-dev-conversation-closed.fifo",
        {"conversation": CONVERSATION, "reason": "agent-closed", "at": iso(T0 + 6)},
        (CONTACT, CONVERSATION_ID),
    ),
    "survey-reply": record(
        7,
        "servicekanal-dev-survey-answers.fifo",
        {"survey_reply": {"pk": f"C#{CONTACT}", "sk": f"MSG#{SURVEY_REPLY_ID}"}},
        (CONTACT, f"MSG#{SURVEY_REPLY_ID}"),
    ),
}


def write(folder, events):
    out = EVENTS_DIR / folder
    out.mkdir(parents=True, exist_ok=True)
    for name, rec in events.items():
        event = {"Records": [rec]}
        (out / f"{name}.json").write_text(json.dumps(event, ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {len(events)} events to {out}")


def main():
    write("bot-reply", EVENTS)
    write("survey", SURVEY_EVENTS)


if __name__ == "__main__":
    main()
