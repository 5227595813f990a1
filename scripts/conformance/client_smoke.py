"""A pledge's life through a client generated from openapi/openapi.json, and nothing else.

Usage: client_smoke.py GENERATED_DIR BASE_URL

GENERATED_DIR holds the package `thidua_client` that openapi-python-client generated from the
committed document (scripts/conformance/run does that); BASE_URL is a live service with the
demo data. The commune manager of Xã Mỹ Chánh Hòa registers and submits a 2026 pledge, the
province manager approves it, the commune reports progress, and the province reads coverage
before and after. Meanwhile a mobile app of the province follows the change feed with the
sync loop of sync_example.py and sees the pledge's life arrive.
Every call goes through the generated functions and models; any status the document does not
list raises (`raise_on_unexpected_status`).
"""

import datetime
import os
import sys
import uuid

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
BASE_URL = sys.argv[2]

from thidua_client import AuthenticatedClient, Client  # noqa: E402
from thidua_client.types import UNSET  # noqa: E402
from thidua_client.api.auth import me, token  # noqa: E402
from thidua_client.api.campaigns import list_campaigns  # noqa: E402
from thidua_client.api.organizations import get_organization  # noqa: E402
from thidua_client.api.pledges import (  # noqa: E402
    approve_pledge,
    create_pledge,
    get_pledge,
    report_progress,
    submit_pledge,
)
from thidua_client.api.stats import stats_coverage  # noqa: E402
from sync_example import sync  # noqa: E402
from thidua_client.models import (  # noqa: E402
    CampaignPage,
    CoverageDto,
    CreatePledge,
    CreateProgress,
    MeDto,
    OrganizationDto,
    PledgeDto,
    PledgeKind,
    PledgeStatus,
    ProgressDto,
    TokenRequest,
    TokenResponse,
)

# The demo after the reform of 1/7/2025: Mỹ Hòa went into Xã Mỹ Chánh Hòa (myhoa.manager's
# membership with it) and Ba Tri's staff (bt.manager) into Tỉnh Vĩnh Long.
CAMPAIGN_CODE = "VINH-LONG-2026-2030"
COMMUNE = "Xã Mỹ Chánh Hòa"
# A year of the campaign (2026 … 2030) in which the demo leaves this commune unregistered.
YEAR = 2026

checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"client smoke: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def parsed(response, status, model, what):
    check(response.status_code == status, f"{what}: status {response.status_code}, expected {status}: {response.content[:300]!r}")
    check(isinstance(response.parsed, model), f"{what}: body is not a {model.__name__}")
    return response.parsed


def log_in(username, password):
    anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True)
    issued = parsed(
        token.sync_detailed(
            client=anonymous,
            body=TokenRequest(grant_type="password", username=username, password=password),
        ),
        200,
        TokenResponse,
        f"log in as {username}",
    )
    check(issued.token_type == "Bearer" and issued.expires_in > 0, "a bearer token with a lifetime")
    return AuthenticatedClient(base_url=BASE_URL, token=issued.access_token, raise_on_unexpected_status=True)


def coverage_of(reader, province_id, campaign_id, commune_id):
    """Coverage of the province with every page of its units (a small page, to walk the cursor)."""
    pages, cursor = [], None
    while True:
        page = parsed(
            stats_coverage.sync_detailed(
                client=reader,
                organization_id=province_id,
                campaign_id=campaign_id,
                year=YEAR,
                limit=20,
                cursor=cursor if cursor is not None else UNSET,
            ),
            200,
            CoverageDto,
            "coverage of the province",
        )
        pages.append(page)
        check(len(pages) <= 1000, "the pages of coverage end")
        cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
        if cursor is None:
            break
    first = pages[0]
    check(
        all((p.expected, p.registered) == (first.expected, first.registered) for p in pages),
        "every page repeats the totals",
    )
    every_unit = [unit for p in pages for unit in p.units]
    check(len(every_unit) == first.expected, "the pages hold every expected unit once")
    check(len({unit.organization_id for unit in every_unit}) == len(every_unit), "no unit is on two pages")
    units = [unit for unit in every_unit if unit.organization_id == commune_id]
    check(len(units) == 1, "the commune is an expected unit of its province")
    check(first.registered == sum(1 for unit in every_unit if unit.registered), "registered counts the units")
    return first, units[0]


def main():
    manager = log_in("myhoa.manager", "manager-demo-2022")
    province_manager = log_in("bt.manager", "manager-demo-2022")

    caller = parsed(me.sync_detailed(client=manager), 200, MeDto, "who am I")
    communes = [m for m in caller.memberships if m.organization_name == COMMUNE and m.role == "manager"]
    check(len(communes) == 1, "myhoa.manager manages Mỹ Chánh Hòa")
    commune_id = communes[0].organization_id
    commune = parsed(get_organization.sync_detailed(commune_id, client=manager), 200, OrganizationDto, "the commune")
    province_id = commune.parent_id

    page = parsed(list_campaigns.sync_detailed(client=manager, q=CAMPAIGN_CODE), 200, CampaignPage, "find the campaign")
    campaigns = [c for c in page.items if c.code == CAMPAIGN_CODE]
    check(len(campaigns) == 1, f"campaign {CAMPAIGN_CODE} exists")
    campaign = campaigns[0]
    field = campaign.fields[0].code

    # The app has synced before: it holds a cursor (here: catching up from the start).
    cursor = sync(province_manager, None, lambda change: None)
    check(cursor is not None, "the feed is followed to its end")

    before, unit_before = coverage_of(province_manager, province_id, campaign.id, commune_id)
    check(not unit_before.registered, f"Mỹ Chánh Hòa has not registered for {YEAR} yet")

    body = CreatePledge(
        campaign_id=campaign.id,
        organization_id=commune_id,
        year=YEAR,
        kind=PledgeKind.TARGET,
        field=field,
        title="Hoàn thành 19/19 tiêu chí nông thôn mới nâng cao",
        deadline=datetime.date(YEAR, 12, 31),
        target_value=19.0,
        target_unit="tiêu chí",
    )
    key = str(uuid.uuid4())
    pledge = parsed(create_pledge.sync_detailed(client=manager, body=body, idempotency_key=key), 201, PledgeDto, "register")
    check(pledge.status == PledgeStatus.DRAFT and pledge.year == YEAR, "a new pledge is a draft of its year")
    replay = parsed(create_pledge.sync_detailed(client=manager, body=body, idempotency_key=key), 201, PledgeDto, "retry")
    check(replay.id == pledge.id, "a retry with the same Idempotency-Key replays the first answer")

    pledge = parsed(
        submit_pledge.sync_detailed(pledge.id, client=manager, if_match=f'"{pledge.version}"'),
        200,
        PledgeDto,
        "submit",
    )
    check(pledge.status == PledgeStatus.SUBMITTED, "submitted")

    after, unit_after = coverage_of(province_manager, province_id, campaign.id, commune_id)
    check(unit_after.registered and unit_after.pledge_count >= 1, "Mỹ Chánh Hòa has registered once submitted")
    check(after.registered == before.registered + 1 and after.expected == before.expected, "one more unit registered")
    check(after.ratio is not None and abs(after.ratio - after.registered / after.expected) < 1e-9, "ratio = registered / expected")

    pledge = parsed(approve_pledge.sync_detailed(pledge.id, client=province_manager), 200, PledgeDto, "approve")
    check(pledge.status == PledgeStatus.APPROVED, "approved by the province")

    reported_on = datetime.date(YEAR, 6, 30)
    progress = parsed(
        report_progress.sync_detailed(
            pledge.id,
            client=manager,
            body=CreateProgress(reported_on=reported_on, percent=40.0, note="8/19 tiêu chí đạt"),
            idempotency_key=str(uuid.uuid4()),
        ),
        201,
        ProgressDto,
        "report progress",
    )
    check(progress.pledge_id == pledge.id and progress.percent == 40.0, "the report is recorded")

    pledge = parsed(get_pledge.sync_detailed(pledge.id, client=manager), 200, PledgeDto, "read the pledge")
    check(pledge.progress_percent == 40.0 and pledge.last_reported_on == reported_on, "the pledge shows its progress")
    changes = []
    cursor = sync(province_manager, cursor, changes.append)
    check(cursor is not None, "the feed is followed from the stored cursor")
    actions = [change.action for change in changes if change.id == str(pledge.id)]
    check(actions[:1] == ["created"] and actions.count("transitioned") == 2, f"the pledge's life is in the feed: {actions}")
    check(any(change.id == str(progress.id) for change in changes), "the progress report is in the feed")
    check([change.seq for change in changes] == sorted({change.seq for change in changes}), "in order, each once")

    print(f"client smoke: {checks} checks passed (pledge {pledge.id})")


if __name__ == "__main__":
    main()
