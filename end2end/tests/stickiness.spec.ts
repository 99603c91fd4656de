import { expect, test } from '../pages/fixtures';

// Product Stickiness on the demo world: the page shows what GET /api/v1/ops/stickiness answers
// (whose funnel the Rust suite checks on a hand-computed fixture).
const apiToken = process.env.E2E_API_TOKEN ?? '';
const auth = { authorization: `Bearer ${apiToken}` };

type Step = { step: string; tenants: number; conversion_pct: number | null; stuck: { tenant_name: string }[]; worst_drop_off: boolean };

test.describe('product stickiness', () => {
  test.beforeEach(async ({ loginPage }) => {
    await loginPage.loginAsOperator();
  });

  test('the funnel renders with the API numbers, and a step lists who is stuck there', async ({ page, request }) => {
    const steps: Step[] = (await (await request.get('/api/v1/ops/stickiness', { headers: auth })).json()).steps;
    expect(steps.map((s) => s.step)).toEqual([
      'Incident created',
      'Incident viewed',
      'Replay executed',
      'Export generated',
      'Certificate verified',
    ]);
    expect(steps[0].tenants).toBeGreaterThan(10);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Product Stickiness/ }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Product Stickiness' })).toBeVisible();
    await expect(page.locator('#funnel-chart canvas').first()).toBeVisible();
    const rows = page.getByTestId('funnel-step');
    await expect(rows).toHaveCount(5);
    for (const [i, s] of steps.entries()) {
      await expect(rows.nth(i).getByTestId('step-tenants')).toHaveText(String(s.tenants));
      const conversion = s.conversion_pct === null ? '—' : `${s.conversion_pct.toFixed(1)}%`;
      await expect(rows.nth(i).getByTestId('step-conversion')).toHaveText(conversion);
    }
    const worst = steps.findIndex((s) => s.worst_drop_off);
    await expect(rows.nth(worst)).toContainText('worst drop-off after this step');

    const withStuck = steps.findIndex((s) => s.stuck.length > 0);
    const stuck = rows.nth(withStuck).getByTestId('stuck');
    await stuck.locator('summary').click();
    await expect(stuck.getByRole('link', { name: steps[withStuck].stuck[0].tenant_name })).toBeVisible();
  });

  test('the window changes the numbers', async ({ page, request }) => {
    const week: Step[] = (await (await request.get('/api/v1/ops/stickiness?days=7', { headers: auth })).json()).steps;
    await page.goto('/stickiness');
    await page.getByRole('link', { name: 'Last 7 days' }).click();
    await expect(page).toHaveURL(/days=7/);
    await expect(page.getByRole('link', { name: 'Last 7 days' })).toHaveAttribute('aria-current', 'true');
    await expect(page.getByTestId('funnel-step').first().getByTestId('step-tenants')).toHaveText(String(week[0].tenants));
  });
});
