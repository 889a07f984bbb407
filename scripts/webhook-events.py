#!/usr/bin/env python3
"""Writes events/whatsapp-webhook/*.json: Lambda function URL requests (payload 2.0) as the
WhatsApp Cloud API sends them, signed with the documented local test app secret.

Edit the payloads here and run `python3 scripts/webhook-events.py`; the tests check that every
signed sample verifies, so a hand-edited body without a new signature fails.
"""
import hashlib
import hmac
import json
import pathlib

APP_SECRET = b"servicekanal-local-app-secret"
VERIFY_TOKEN = "servicekanal-local-verify-token"
OUT = pathlib.Path(__file__).resolve().parent.parent / "events" / "whatsapp-webhook"

BUSINESS = {"display_phone_number": "4930123456789", "phone_number_id": "106540352242922"}
CUSTOMER = "4917612345678"
NAME = "Erika Mustermann"
# Business-scoped user ids (BSUIDs), carried by every message since 2026.
CUSTOMER_USER_ID = "DE.1349120865530274"
NEW_NUMBER = "4917699999999"
NEW_USER_ID = "DE.1349120865539911"
# A user with a username whose phone number WhatsApp withholds.
LENA_USER_ID = "DE.7715320988410042"
LENA_USERNAME = "lena.k"
T0 = 1795255200  # 2026-11-21T10:00:00Z


def wamid(n):
    return f"wamid.HBgNNDkxNzYxMjM0NTY3OBUCABIYFDNBMDQ{n:06d}AA=="


def message(n, kind, body, sender=CUSTOMER, extra=None):
    m = {"from": sender, "id": wamid(n), "timestamp": str(T0 + n), "type": kind}
    if body is not None:
        m[kind] = body
    m.update(extra or {})
    return m


def change(messages=None, statuses=None, errors=None, contacts=None):
    value = {"messaging_product": "whatsapp", "metadata": BUSINESS}
    if messages is not None:
        # System messages come without contacts (contacts=[]).
        value["contacts"] = contacts if contacts is not None else [{"profile": {"name": NAME}, "wa_id": CUSTOMER}]
        if not value["contacts"]:
            del value["contacts"]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    if errors is not None:
        value["errors"] = errors
    return {"value": value, "field": "messages"}


def payload(*changes, entries=None):
    entries = entries or [{"id": "102290129340398", "changes": list(changes)}]
    return {"object": "whatsapp_business_account", "entry": entries}


def status(n, state, errors=None, recipient=CUSTOMER, user_id=CUSTOMER_USER_ID):
    s = {
        "id": f"wamid.HBgNNDkxNzYxMjM0NTY3OBUCABEYEjBCOUQ{n:06d}AA==",
        "status": state,
        "timestamp": str(T0 + 60 + n),
        "recipient_user_id": user_id,
    }
    if recipient:
        s["recipient_id"] = recipient
    if state != "failed":
        s["conversation"] = {"id": "c6a1b1e3f0c2d4e5f6a7b8c9d0e1f2a3", "origin": {"type": "service"}}
        # Per-message pricing (since July 2025): free within the customer-service window.
        s["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service",
                        "type": "free_customer_service"}
    if errors:
        s["errors"] = errors
    return s


def with_user_id(m, user_id=CUSTOMER_USER_ID):
    m["from_user_id"] = user_id
    return m


ERIKA_BOTH = [{"profile": {"name": NAME}, "wa_id": CUSTOMER, "user_id": CUSTOMER_USER_ID}]
LENA = [{"profile": {"name": "Lena Krause", "username": LENA_USERNAME}, "user_id": LENA_USER_ID}]


def username_only(n, text):
    m = message(n, "text", {"body": text})
    del m["from"]
    return with_user_id(m, LENA_USER_ID)


def request(method, body=None, query="", signature="valid"):
    headers = {
        "accept": "*/*",
        "host": "a1b2c3d4e5f6g7h8i9j0.lambda-url.eu-central-1.on.aws",
        "user-agent": "facebookexternalua",
        "x-forwarded-for": "173.252.127.118",
        "x-forwarded-proto": "https",
        "x-amzn-trace-id": "Root=1-673f0a20-0b1c2d3e4f5a6b7c8d9e0f1a",
    }
    raw = None
    if body is not None:
        raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        headers["content-type"] = "application/json"
        if signature == "valid":
            headers["x-hub-signature-256"] = "sha256=" + hmac.new(APP_SECRET, raw.encode(), hashlib.sha256).hexdigest()
        elif signature == "wrong":
            headers["x-hub-signature-256"] = "sha256=" + hmac.new(b"not-the-app-secret", raw.encode(), hashlib.sha256).hexdigest()
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/webhook",
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "a1b2c3d4e5f6g7h8i9j0",
            "domainName": "a1b2c3d4e5f6g7h8i9j0.lambda-url.eu-central-1.on.aws",
            "domainPrefix": "a1b2c3d4e5f6g7h8i9j0",
            "http": {"method": method, "path": "/webhook", "protocol": "HTTP/1.1",
                     "sourceIp": "173.252.127.118", "userAgent": "facebookexternalua"},
            "requestId": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:10:00:05 +0000",
            "timeEpoch": (T0 + 5) * 1000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if raw is not None:
        event["body"] = raw
    return event


def media(kind, mime, extra=None):
    body = {"mime_type": mime, "sha256": "3b1f0c9e2d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c",
            "id": f"1{len(kind)}84736291045{len(mime)}"}
    body.update(extra or {})
    return body


EVENTS = {
    "get-verify": request("GET", query=f"hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"),
    "get-verify-wrong-token": request("GET", query="hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guessed"),
    "post-text": request("POST", payload(change([message(1, "text", {"body": "Hallo, meine Rechnung ist viel zu hoch!"})]))),
    "post-interactive-button-reply": request("POST", payload(change([message(2, "interactive", {
        "type": "button_reply", "button_reply": {"id": "kind-customer", "title": "Ja, ich bin Kundin"}},
        extra={"context": {"from": BUSINESS["display_phone_number"], "id": wamid(900)}})]))),
    "post-interactive-list-reply": request("POST", payload(change([message(3, "interactive", {
        "type": "list_reply", "list_reply": {"id": "topic-roaming", "title": "Roaming", "description": "Im Ausland surfen"}},
        extra={"context": {"from": BUSINESS["display_phone_number"], "id": wamid(901)}})]))),
    "post-button": request("POST", payload(change([message(4, "button", {"payload": "survey-start", "text": "Gerne"},
        extra={"context": {"from": BUSINESS["display_phone_number"], "id": wamid(902)}})]))),
    "post-image": request("POST", payload(change([message(5, "image", media("image", "image/jpeg", {"caption": "Foto von meiner SIM-Karte"}))]))),
    "post-audio": request("POST", payload(change([message(6, "audio", media("audio", "audio/ogg; codecs=opus", {"voice": True}))]))),
    "post-video": request("POST", payload(change([message(7, "video", media("video", "video/mp4"))]))),
    "post-document": request("POST", payload(change([message(8, "document", media("document", "application/pdf", {"filename": "Rechnung-2026-10.pdf", "caption": "Diese hier"}))]))),
    "post-sticker": request("POST", payload(change([message(9, "sticker", media("sticker", "image/webp", {"animated": False}))]))),
    "post-location": request("POST", payload(change([message(10, "location", {"latitude": 52.520008, "longitude": 13.404954, "name": "Alexanderplatz", "address": "10178 Berlin"})]))),
    "post-contacts": request("POST", payload(change([message(11, "contacts", [{"name": {"formatted_name": "Max Muster", "first_name": "Max"}, "phones": [{"phone": "+49 151 98765432", "type": "CELL", "wa_id": "4915198765432"}]}])]))),
    "post-reaction": request("POST", payload(change([message(12, "reaction", {"message_id": wamid(903), "emoji": "\U0001F44D"})]))),
    "post-bsuid-with-phone": request("POST", payload(change([with_user_id(message(40, "text", {"body": "Hallo, ich habe eine Frage zu meinem Vertrag"}))], contacts=ERIKA_BOTH))),
    "post-username-only": request("POST", payload(change([username_only(41, "Hi, wie kann ich meine SIM aktivieren?")], contacts=LENA))),
    # System messages come without contacts; the body names both numbers (never stored).
    "post-user-changed-number": request("POST", payload(change([with_user_id(message(42, "system", {
        "body": f"User {NAME} changed from {CUSTOMER} to {NEW_NUMBER}", "wa_id": NEW_NUMBER,
        "type": "user_changed_number", "user_id": NEW_USER_ID, "previous_user_id": CUSTOMER_USER_ID}))],
        contacts=[]))),
    "post-user-changed-user-id": request("POST", payload(change([with_user_id(message(43, "system", {
        "body": f"User {NAME} changed their user id", "type": "user_changed_user_id",
        "user_id": NEW_USER_ID, "previous_user_id": CUSTOMER_USER_ID}))], contacts=[]))),
    "post-status-user-id-only": request("POST", payload(change(statuses=[status(4, "delivered", recipient=None, user_id=LENA_USER_ID)]))),
    "post-batch-one-unreadable": request("POST", payload(change([
        message(50, "text", {"body": "Erste Nachricht"}),
        {"from": CUSTOMER, "id": 12345, "timestamp": str(T0 + 51), "type": "text", "text": "kaputt"},
        message(52, "text", {"body": "Dritte Nachricht"}),
    ]))),
    "post-unsupported": request("POST", payload(change([message(14, "unsupported", None, extra={"errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown", "error_data": {"details": "Message type is currently not supported."}}]})]))),
    "post-statuses": request("POST", payload(change(statuses=[status(1, "sent"), status(1, "delivered"), status(1, "read")]))),
    # A failed status may come without contacts and without the phone number.
    "post-status-failed": request("POST", payload(change(statuses=[status(2, "failed", recipient=None, errors=[{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message", "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}])]))),
    "post-errors": request("POST", payload(change(errors=[{"code": 131000, "title": "Something went wrong", "message": "Something went wrong", "error_data": {"details": "Unknown error"}}]))),
    "post-batch": request("POST", payload(entries=[
        {"id": "102290129340398", "changes": [
            change([message(20, "text", {"body": "Guten Morgen"}), message(21, "text", {"body": "Ich brauche einen neuen PIN"})]),
            change(statuses=[status(3, "delivered")]),
        ]},
        {"id": "102290129340398", "changes": [
            change([message(22, "text", {"body": "Was kostet der Tarif XL?"}, sender="4915112345678")],
                   contacts=[{"profile": {"name": "Max Muster"}, "wa_id": "4915112345678"}]),
        ]},
    ])),
    "post-unsigned": request("POST", payload(change([message(30, "text", {"body": "Hallo"})])), signature="none"),
    "post-wrong-signature": request("POST", payload(change([message(31, "text", {"body": "Hallo"})])), signature="wrong"),
    "post-not-json": request("POST", "this is not the JSON you are looking for"),
}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    for name, event in EVENTS.items():
        (OUT / f"{name}.json").write_text(json.dumps(event, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(EVENTS)} events to {OUT}")
