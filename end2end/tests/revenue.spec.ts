import { readFileSync } from 'node:fs';
import { expect, test } from '../pages/fixtures';

// Revenue & Risk on the demo world: the page shows what GET /api/v1/ops/revenue answers (whose
// numbers and flags the Rust suite checks on a hand-computed fixture).
const apiToken = process.env.E2E_API_TOKEN ?? '';
const auth = { authorization: `Bearer ${apiToken}` };

type Row = { tenant_name: string; margin_usd: string; flags: { kind: string }[] };

test.describe('revenue & risk', () => {
  test.beforeEach(async ({ loginPage }) => {
    await loginPage.loginAsOperator();
  });

  test('the negative-margin tenant comes first with its flag', async ({ page, request }) => {
    const api = await (await request.get('/api/v1/ops/revenue', { headers: auth })).json();
    const rows: Row[] = api.tenants;
    // The demo world has a tenant that loses money by construction.
    expect(Number(rows[0].margin_usd)).toBeLessThan(0);
    expect(rows[0].flags.map((f) => f.kind)).toContain('MARGIN_NEGATIVE');
    // And an abuser.
    expect(rows.some((r) => r.flags.some((f) => f.kind === 'ABUSE_PATTERN'))).toBe(true);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Revenue & Risk/ }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Revenue & Risk' })).toBeVisible();
    const table = page.getByTestId('revenue-row');
    await expect(table).toHaveCount(rows.length);
    await expect(table.first().locator('.customer-name')).toHaveText(rows[0].tenant_name);
    await expect(table.first().getByTestId('margin')).toHaveClass(/negative/);
    await expect(table.first().locator('[data-kind="MARGIN_NEGATIVE"]')).toContainText('Margin negative');
    await expect(page.getByTestId('gross-margin')).toHaveText(`${api.totals.gross_margin_pct.toFixed(1)}%`);
    await expect(page.locator('#margin-chart canvas').first()).toBeVisible();
  });

  test('the table downloads as CSV', async ({ page }) => {
    await page.goto('/revenue');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('csv').click()]);
    expect(download.suggestedFilename()).toMatch(/^revenue-\d{8}-\d{4}-30d\.csv$/);
    const text = readFileSync(await download.path(), 'utf8');
    const lines = text.trim().split('\n');
    expect(lines[0]).toContain('tenant_id,tenant_name,plan');
    const rows = page.getByTestId('revenue-row');
    await expect(rows).toHaveCount(lines.length - 1);
  });
});
