import { randomUUID } from 'node:crypto';
import { expect, test } from '../pages/fixtures';

// Runs first, against the release binary on a fresh, empty database (scripts/test loads the
// demo world only after this file): the contract's ingestion and health parts, and the honest
// empty state of the Events page.
const ingestKey = process.env.E2E_INGEST_KEY ?? '';
const apiToken = process.env.E2E_API_TOKEN ?? '';
const tenant = randomUUID();

function event(extra: Record<string, unknown> = {}) {
  return {
    event_id: randomUUID(),
    tenant_id: tenant,
    event_type: 'API_CALL_RECEIVED',
    metadata: { endpoint: '/v1/guard', method: 'POST', status_code: 200 },
    ...extra,
  };
}

test.describe('@empty an empty database', () => {
  test('the Events page shows only the sign-in, and an honest empty filter', async ({ loginPage, eventsPage }) => {
    await loginPage.loginAsOperator();
    await eventsPage.goto();
    // A fresh database holds only the operator's sign-in and the server's own resource samples.
    const types = new Set(await eventsPage.visibleTypes());
    expect(types.has('LOGIN')).toBe(true);
    expect([...types].every((t) => t === 'LOGIN' || t === 'INFRA_LIMIT_HIT')).toBe(true);
    await eventsPage.goto('?event_type=INCIDENT_CREATED');
    await expect(eventsPage.page.getByTestId('events-empty')).toContainText('No events match this filter');
    await expect(eventsPage.page.getByText('No events in this window.')).toBeVisible();
  });

  test('there are no customers yet, and no silent churn', async ({ loginPage, page }) => {
    await loginPage.loginAsOperator();
    await page.goto('/customers');
    await expect(page.getByTestId('customers-empty')).toContainText('No customers yet');
    await expect(page.getByTestId('interventions')).toContainText('No silent churn');
    await page.goto('/stickiness');
    await expect(page.getByTestId('funnel-empty')).toContainText('No incident in the last 30 days');
    await page.goto('/revenue');
    await expect(page.getByTestId('revenue-empty')).toContainText('No paying or active tenant');
    await page.goto('/incidents');
    await expect(page.getByTestId('incidents-empty')).toContainText('No incident in the last 24 hours');
    await expect(page.getByTestId('matrix-empty')).toContainText('No incident in this window');
    await expect(page.getByTestId('incident-matrix')).toBeHidden();
    await expect(page.getByTestId('no-regression')).toContainText('No regression');
    await expect(page.getByTestId('audit-empty')).toContainText('No change yet');
    await page.goto('/replay');
    await expect(page.getByTestId('replay-empty')).toContainText('nothing to replay');
  });

  test('no alert has been raised and none is sent anywhere', async ({ loginPage, settingsPage, page }) => {
    await loginPage.loginAsOperator();
    await expect(page.getByTestId('no-alerts')).toContainText('No alert raised yet');
    await settingsPage.goto();
    await expect(settingsPage.noWebhooks).toBeVisible();
    await expect(settingsPage.threshold('Failed LLM calls')).toHaveValue('5');
  });

  test('health answers and the read API is empty', async ({ request }) => {
    expect((await request.get('/healthz')).status()).toBe(200);
    expect((await request.get('/readyz')).status()).toBe(200);
    const list = await request.get('/api/v1/ops/events', { headers: { authorization: `Bearer ${apiToken}` } });
    expect(list.status()).toBe(200);
    const body = await list.json();
    // Only the operator's own sign-in and the server's own resource samples may be there.
    expect(
      body.events.every(
        (e: { event_type: string; metadata: { source?: string } }) =>
          e.event_type === 'LOGIN' || (e.event_type === 'INFRA_LIMIT_HIT' && e.metadata.source === 'collector'),
      ),
    ).toBe(true);
    expect((await request.get('/api/v1/ops/events')).status()).toBe(401);
  });

  test('ingestion follows the contract', async ({ request }) => {
    const auth = { authorization: `Bearer ${ingestKey}` };
    const batch = [event(), event(), event()];
    const first = await request.post('/api/v1/ops/events', { headers: auth, data: batch });
    expect(first.status()).toBe(200);
    expect(await first.json()).toEqual({ accepted: 3, duplicates: 0 });

    const again = await request.post('/api/v1/ops/events', { headers: auth, data: batch });
    expect(await again.json()).toEqual({ accepted: 0, duplicates: 3 });

    const ndjson = [event(), event()].map((e) => JSON.stringify(e)).join('\n');
    const lines = await request.post('/api/v1/ops/events', {
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      data: ndjson,
    });
    expect(await lines.json()).toEqual({ accepted: 2, duplicates: 0 });

    const bad = await request.post('/api/v1/ops/events', {
      headers: auth,
      data: [event(), event({ severity: 7 }), event({ event_type: 'NOPE' })],
    });
    expect(bad.status()).toBe(422);
    const errors = (await bad.json()).errors;
    expect(errors.map((e: { index: number; field: string }) => [e.index, e.field])).toEqual([
      [1, 'severity'],
      [2, 'event_type'],
    ]);

    expect((await request.post('/api/v1/ops/events', { data: [event()] })).status()).toBe(401);
    const broken = await request.post('/api/v1/ops/events', {
      headers: { ...auth, 'content-type': 'application/json' },
      data: '{"tenant_id": ',
    });
    expect(broken.status()).toBe(400);
    const tooMany = await request.post('/api/v1/ops/events', {
      headers: auth,
      data: Array.from({ length: 10_001 }, () => event()),
    });
    expect(tooMany.status()).toBe(413);

    // Exactly the five good events are stored.
    const list = await request.get(`/api/v1/ops/events?tenant_id=${tenant}&limit=100`, {
      headers: { authorization: `Bearer ${apiToken}` },
    });
    expect((await list.json()).events).toHaveLength(5);
  });
});
