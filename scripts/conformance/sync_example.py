"""Staying in sync with thidua through the generated Python client: the loop to copy.

Usage: sync_example.py GENERATED_DIR BASE_URL USERNAME PASSWORD [CURSOR_FILE]

Pulls `GET /changes` from the cursor stored in CURSOR_FILE (none: from the oldest event kept)
until `next_cursor` is null, applies each event, then stores `cursor` for the next sync. A 410
`resync_required` means the stored cursor is older than the retention: reload the lists and
start again without a cursor. Events carry ids, not bodies: fetch what you need.
"""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])

from thidua_client import AuthenticatedClient  # noqa: E402
from thidua_client.api.sync import list_changes  # noqa: E402
from thidua_client.models import ChangePage  # noqa: E402
from thidua_client.types import UNSET  # noqa: E402


def sync(client, cursor, apply):
    """Applies every change after `cursor` (None: from the start); returns the cursor to store,
    or None when the server asks for a full reload (410 resync_required)."""
    while True:
        response = list_changes.sync_detailed(client=client, after=cursor if cursor else UNSET, limit=200)
        if response.status_code == 410:
            return None
        if response.status_code != 200 or not isinstance(response.parsed, ChangePage):
            raise RuntimeError(f"GET /changes answered {response.status_code}: {response.content[:300]!r}")
        page = response.parsed
        for change in page.items:
            apply(change)
        cursor = page.cursor
        if page.next_cursor is None:  # caught up: keep `cursor` for next time
            return cursor


def main():
    base_url, username, password = sys.argv[2:5]
    cursor_file = sys.argv[5] if len(sys.argv) > 5 else None
    from thidua_client import Client
    from thidua_client.api.auth import token
    from thidua_client.models import TokenRequest

    issued = token.sync(client=Client(base_url=base_url), body=TokenRequest(grant_type="password", username=username, password=password))
    client = AuthenticatedClient(base_url=base_url, token=issued.access_token, raise_on_unexpected_status=False)
    stored = open(cursor_file).read().strip() if cursor_file and os.path.exists(cursor_file) else None

    def apply(change):
        gone = " (gone)" if change.tombstone else ""
        print(f"{change.seq} {change.to_dict()['type']} {change.id} {change.action}{gone}")

    cursor = sync(client, stored, apply)
    if cursor is None:
        print("cursor older than the retention: reload the lists, then sync without a cursor", file=sys.stderr)
        sys.exit(2)
    if cursor_file:
        with open(cursor_file, "w") as out:
            out.write(cursor)


if __name__ == "__main__":
    main()
