#!/usr/bin/env python3
"""The reference webhook receiver of thidua; run it through scripts/webhook-receiver.

Each delivery is a POST whose body is {"type": "pledge.created", "timestamp": ..., "data":
<an item of GET /api/v1/changes>}, with the Standard Webhooks headers webhook-id (msg_<seq>),
webhook-timestamp and webhook-signature. This receiver:

1. verifies the signature (and the timestamp, against replays) with the standardwebhooks
   library; a delivery that does not verify is answered 401 and never applied;
2. applies the event once: thidua sends a subscription's events in increasing `seq` and retries
   a failed one until it is acknowledged (so an event can arrive twice, e.g. when the answer
   was lost): an event at or below the last applied `seq` is acknowledged and skipped;
3. stores it durably (a JSON line, flushed to disk) before answering 2xx, so an event
   acknowledged is never lost by a crash of the receiver.

The store (--store, one JSON line per applied event) doubles as the receiver's cursor: on a
restart it resumes after its last line. `mirror` holds what a real integration would update:
the latest known state of each entity, tombstones removing it. Fetch an entity's details from
the API (GET /api/v1/<type>s/{id}) when you need more than the event.
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class FeedMirror:
    """The applied events, in `seq` order, and the entities they describe."""

    def __init__(self, path):
        self.path = path
        self.cursor = 0
        self.mirror = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as store:
                for line in store:
                    if line.strip():
                        self._update(json.loads(line))
        self.store = open(path, "a", encoding="utf-8")

    def _update(self, event):
        key = (event["type"], event["id"])
        if event.get("tombstone"):
            self.mirror.pop(key, None)
        else:
            self.mirror[key] = event
        self.cursor = event["seq"]

    def apply(self, event):
        """Applies `event` unless it was applied already; True when applied."""
        if event["seq"] <= self.cursor:
            return False
        self.store.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.store.flush()
        os.fsync(self.store.fileno())
        self._update(event)
        return True


def handler_for(webhook, feed):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                payload = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError as error:
                print(f"refused: {error}", file=sys.stderr, flush=True)
                self.send_response(401)
                self.end_headers()
                return
            event = payload["data"]
            applied = feed.apply(event)
            print(
                json.dumps(
                    {
                        "applied" if applied else "duplicate": event["seq"],
                        "webhook_id": self.headers.get("webhook-id"),
                        "type": payload["type"],
                        "id": event["id"],
                    }
                ),
                flush=True,
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on")
    parser.add_argument(
        "--store", default="webhook-events.jsonl", help="file of applied events (the cursor)"
    )
    arguments = parser.parse_args()
    secret = os.environ.get("THIDUA_WEBHOOK_SECRET", "")
    if not secret.startswith("whsec_"):
        parser.error("set THIDUA_WEBHOOK_SECRET to the whsec_ secret of the subscription")
    feed = FeedMirror(arguments.store)
    # One request at a time: events are applied in the order they arrive, which is seq order.
    server = HTTPServer((arguments.host, arguments.port), handler_for(Webhook(secret), feed))
    print(
        f"listening on http://{arguments.host}:{server.server_port}/ (applied through seq "
        f"{feed.cursor})",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
