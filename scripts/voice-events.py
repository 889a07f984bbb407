#!/usr/bin/env python3
"""Writes events/voice-intake/*.json: what Amazon Connect, its Lex V2 bot and the
sales-actions queue send to voice-intake. Windows are relative ("morgen ..."), so the samples
stay valid on any day; tests run them on the controllable clock.
"""
import copy
import hashlib
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent.parent / "events" / "voice-intake"
REGION = "eu-central-1"
ACCOUNT = "123456789012"
INSTANCE = f"arn:aws:connect:{REGION}:{ACCOUNT}:instance/7c2b1a4e-3f5d-4c6b-9a8e-1d2f3a4b5c6d"
CONTACT = "5fb1d0c2-7c9e-4a1b-9d2f-0c3e5b7a9d11"
CALLER = "+4917612345678"


def connect(contact_id, parameters, caller=CALLER):
    return {
        "Details": {
            "ContactData": {
                "Attributes": {"language": "de-DE"},
                "AwsRegion": REGION,
                "Channel": "VOICE",
                "ContactId": contact_id,
                "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"},
                "InitialContactId": contact_id,
                "InitiationMethod": "INBOUND",
                "InstanceARN": INSTANCE,
                "PreviousContactId": contact_id,
                "Queue": None,
                "SystemEndpoint": {"Address": "+4930123456789", "Type": "TELEPHONE_NUMBER"},
                "MediaStreams": {"Customer": {"Audio": None}},
            },
            "Parameters": parameters,
        },
        "Name": "ContactFlowEvent",
    }


FULL = {
    "name": "Max Muster",
    "topic": "Tarifberatung",
    "window": "morgen zwischen 14 und 16 Uhr",
}


def slot(value):
    if value is None:
        return None
    return {
        "shape": "Scalar",
        "value": {"originalValue": value, "interpretedValue": value, "resolvedValues": [value]},
    }


def lex(source, slots, transcript):
    return {
        "messageVersion": "1.0",
        "invocationSource": source,
        "inputMode": "Speech",
        "responseContentType": "audio/pcm",
        "sessionId": "9d3c2b1a-8e7f-4a6b-b5c4-d3e2f1a0b9c8",
        "inputTranscript": transcript,
        "bot": {
            "id": "ABCDEFGHIJ",
            "name": "ServicekanalRueckruf",
            "aliasId": "TSTALIASID",
            "aliasName": "live",
            "localeId": "de_DE",
            "version": "1",
        },
        "interpretations": [],
        "requestAttributes": {"x-amz-lex:accept-content-types": "PlainText,SSML"},
        "sessionState": {
            "sessionAttributes": {"CallerNumber": CALLER},
            "activeContexts": [],
            "intent": {
                "name": "RequestCallback",
                "slots": {k: slot(v) for k, v in slots.items()},
                "state": "InProgress" if source == "DialogCodeHook" else "ReadyForFulfillment",
                "confirmationState": "None",
            },
        },
    }


LEX_SLOTS = {
    "Name": "Erika",
    "Topic": "Vertragsverlängerung",
    "CallbackDate": "2026-11-24",
    "CallbackTime": "14:00",
    "CallbackNumber": None,
}


def reference_for(contact_id):
    """As shared/src/domain/callback.rs makes it: the sales action names this reference."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    digest = hashlib.sha256(contact_id.encode()).digest()
    return "RB-" + "".join(alphabet[b % len(alphabet)] for b in digest[:6])


def sqs(action):
    body = json.dumps(action, separators=(",", ":"))
    return {
        "Records": [
            {
                "messageId": "2e1f0c3d-4b5a-4c6d-8e7f-000000000001",
                "receiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq...Example==",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795255200000",
                    "SenderId": "AIDAEXAMPLESALESDESK",
                    "ApproximateFirstReceiveTimestamp": "1795255200040",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:servicekanal-dev-sales-actions",
                "awsRegion": REGION,
            }
        ]
    }


EVENTS = {
    "connect-callback": connect(CONTACT, FULL),
    # Connect retries the same contact (a timeout, a throttle): one request, same answer.
    "connect-retry": connect(CONTACT, FULL),
    "connect-other-number": connect(
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        {
            "name": "Erika Mustermann",
            "topic": "Geschäftskunden",
            "window": "übermorgen vormittags",
            "callback_number": "null drei null, eins zwei drei vier fünf sechs sieben acht",
        },
        caller="anonymous",
    ),
    "connect-no-parameters": connect("1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e", {}),
    "connect-premium-number": connect(
        "2c3d4e5f-6a7b-4c8d-ae9f-1a2b3c4d5e6f",
        dict(FULL, callback_number="0900 1234567"),
    ),
    "connect-bad-window": connect(
        "3d4e5f6a-7b8c-4d9e-bfa0-2b3c4d5e6f7a", dict(FULL, window="mitten in der Nacht")
    ),
    "lex-dialog-valid": lex("DialogCodeHook", LEX_SLOTS, "am vierundzwanzigsten um vierzehn Uhr"),
    "lex-dialog-bad-number": lex(
        "DialogCodeHook", dict(LEX_SLOTS, CallbackNumber="0900 1234567"), "null neun null null ..."
    ),
    "lex-fulfillment": lex("FulfillmentCodeHook", LEX_SLOTS, "ja"),
    "sales-action-done": sqs({"action": "done", "reference": reference_for(CONTACT)}),
    # Legal hold on the request of connect-other-number, with the case it is held for.
    "sales-action-hold": sqs(
        {
            "action": "hold",
            "reference": reference_for("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
            "reason": "Az. 4 O 117/26",
        }
    ),
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, event in EVENTS.items():
        (OUT / f"{name}.json").write_text(json.dumps(event, ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {len(EVENTS)} events to {OUT}")


if __name__ == "__main__":
    main()
