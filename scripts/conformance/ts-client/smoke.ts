// A partner's first hour with a TypeScript client generated from openapi/openapi.json
// (openapi-typescript types, openapi-fetch calls), and nothing else: log in, list pledges,
// follow the cursor, read the overview, handle a problem+json error. Compiled with
// `tsc --strict` against the committed document (scripts/conformance/run), so a change that
// makes a generated client need casts (a list typed `string | {...}`, an untyped error) fails
// CI; run with node against a live service with the demo data (`node smoke.js BASE_URL`).
//
// No `as`, no `any`: everything below is what the generated types allow.

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/thidua.js";

type Problem = components["schemas"]["Problem"];
type Pledge = components["schemas"]["PledgeDto"];

const baseUrl = process.argv[2] ?? "http://127.0.0.1:8080";
const client = createClient<paths>({ baseUrl });

function fail(what: string, problem?: Problem): never {
    const detail = problem ? ` (${problem.status} ${problem.code}: ${problem.detail})` : "";
    throw new Error(`ts client smoke: ${what}${detail}`);
}

async function main(): Promise<void> {
    const login = await client.POST("/api/v1/auth/token", {
        body: { grant_type: "password", username: "admin", password: "admin-demo-2022" },
    });
    if (login.error) {
        fail("login", login.error);
    }
    const token: string = login.data.access_token;
    const auth = { Authorization: `Bearer ${token}` };

    // A list is its page: `data.items` is typed without narrowing a string away.
    const first = await client.GET("/api/v1/pledges", {
        params: { query: { limit: 2 } },
        headers: auth,
    });
    if (first.error) {
        fail("list pledges", first.error);
    }
    const seen: Pledge[] = [...first.data.items];
    let cursor: string | null | undefined = first.data.next_cursor;
    for (let pages = 1; cursor && pages < 3; pages += 1) {
        const next = await client.GET("/api/v1/pledges", {
            params: { query: { limit: 2, cursor } },
            headers: auth,
        });
        if (next.error) {
            fail("next page", next.error);
        }
        seen.push(...next.data.items);
        cursor = next.data.next_cursor;
    }
    const ids = new Set(seen.map((pledge) => pledge.id));
    if (seen.length < 3 || ids.size !== seen.length) {
        fail(`paging by cursor gave ${seen.length} pledges, ${ids.size} distinct`);
    }

    const overview = await client.GET("/api/v1/stats/overview", { headers: auth });
    if (overview.error) {
        fail("overview", overview.error);
    }
    const total: number = overview.data.pledges_total;
    if (total < seen.length) {
        fail(`overview counts ${total} pledges, fewer than the ${seen.length} listed`);
    }

    // An error is a typed problem: branch on its stable code.
    const missing = await client.GET("/api/v1/pledges/{id}", {
        params: { path: { id: "00000000-0000-0000-0000-000000000000" } },
        headers: auth,
    });
    if (!missing.error) {
        fail("a pledge that does not exist was found");
    }
    const problem: Problem = missing.error;
    if (problem.code !== "not_found" || missing.response.status !== 404) {
        fail("a missing pledge is not a 404 not_found", problem);
    }

    console.log(
        `ts client smoke: ok: logged in, listed ${seen.length} pledges over pages, ` +
            `overview of ${total} pledges, missing pledge answered ${problem.code}`,
    );
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
