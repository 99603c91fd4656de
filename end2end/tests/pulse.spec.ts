import { expect, test } from '../pages/fixtures';

// The page shows what GET /api/v1/ops/pulse answers (whose numbers the Rust suite checks
// against a hand-computed fixture), for now and for a past moment.
const apiToken = process.env.E2E_API_TOKEN ?? '';
const LABELS: Record<string, string> = {
  STABLE: 'STABLE',
  SILENT_DEGRADATION: 'SILENT DEGRADATION',
  ACTIVE_FAILURE: 'ACTIVE FAILURE',
};

test.describe('system pulse', () => {
  test.beforeEach(async ({ loginPage }) => {
    await loginPage.loginAsOperator();
  });

  test('shows the derived state with every reason, and six cards', async ({ page, request }) => {
    const api = await (await request.get('/api/v1/ops/pulse', { headers: { authorization: `Bearer ${apiToken}` } })).json();
    await expect(page.getByRole('heading', { level: 1, name: 'System Pulse' })).toBeVisible();
    await expect(page.getByTestId('system-state-label')).toHaveText(LABELS[api.system_state]);
    for (const reason of api.reasons) {
      await expect(page.getByTestId('reasons')).toContainText(reason.split(' (')[0]);
    }
    for (const key of ['active_tenants', 'incidents', 'replays', 'exports', 'llm_failures', 'infra']) {
      await expect(page.getByTestId(`card-${key}`).getByTestId('metric-value')).toBeVisible();
    }
    // The demo world is alive in the last 24 hours.
    const tenants = page.getByTestId('card-active_tenants').getByTestId('metric-value');
    await expect(tenants).toHaveText(String(api.metrics.active_tenants.current));
    expect(api.metrics.active_tenants.current).toBeGreaterThan(30);
    // The demo world's last 24 hours: customers replay far less than the day before.
    expect(api.system_state).toBe('SILENT_DEGRADATION');
    await expect(page.getByTestId('reasons')).toContainText('Replays down');
    // Sparklines are drawn, infra saturation's too, with its value a week earlier.
    await expect(page.locator('#spark-incidents canvas').first()).toBeVisible();
    await expect(page.locator('#spark-infra canvas').first()).toBeVisible();
    await expect(page.getByTestId('card-infra')).toContainText(/Same day last week\s*\d+%/);
    // Infra headroom lists each resource with how full it is.
    await expect(page.getByTestId('headroom')).toContainText('redis');
    await expect(page.getByTestId('headroom').getByRole('meter').first()).toBeVisible();
  });

  test('time travel shows the pulse as it was', async ({ page, request }) => {
    const past = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    const local = past.toISOString().slice(0, 16);
    const api = await (
      await request.get(`/api/v1/ops/pulse?as_of=${local}:00Z`, { headers: { authorization: `Bearer ${apiToken}` } })
    ).json();
    await page.getByLabel('As of (UTC)').fill(local);
    await page.getByRole('button', { name: 'Show' }).click();
    await expect(page).toHaveURL(/as_of=/);
    const incidents = page.getByTestId('card-incidents').getByTestId('metric-value');
    await expect(incidents).toHaveText(String(api.metrics.incidents.current));
    const [, day, month] = past.toUTCString().split(' ');
    await expect(page.getByTestId('system-state')).toContainText(`as of ${month} ${day}`);
    await page.getByRole('link', { name: 'Now', exact: true }).click();
    await expect(page).not.toHaveURL(/as_of=/);
  });

  test('new events change a card without a reload', async ({ page, request }) => {
    const ingestKey = process.env.E2E_INGEST_KEY ?? '';
    await expect(page.getByTestId('live-status')).toHaveText('● Live');
    const incidents = page.getByTestId('card-incidents').getByTestId('metric-value');
    await expect(incidents).toHaveText(/^\d+$/);
    const before = Number(await incidents.textContent());
    await page.evaluate(() => ((window as unknown as { stillHere: boolean }).stillHere = true));

    const tenant = crypto.randomUUID();
    const events = Array.from({ length: 3 }, () => ({ tenant_id: tenant, event_type: 'INCIDENT_CREATED', severity: 2 }));
    const stored = await request.post('/api/v1/ops/events', { headers: { authorization: `Bearer ${ingestKey}` }, data: events });
    expect(await stored.json()).toEqual({ accepted: 3, duplicates: 0 });

    await expect(incidents).toHaveText(String(before + 3), { timeout: 5_000 });
    expect(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(true);
  });
});
