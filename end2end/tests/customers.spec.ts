import { expect, test } from '../pages/fixtures';

// Customer Intelligence on the demo world: the page shows what GET /api/v1/ops/customers
// answers (whose rules the Rust suite checks on a hand-computed fixture).
const apiToken = process.env.E2E_API_TOKEN ?? '';
const auth = { authorization: `Bearer ${apiToken}` };

type Customer = {
  tenant_id: string;
  tenant_name: string;
  inferred_intent: string;
  intent_evidence: string;
  silent_churn: boolean;
  churn_risk: string;
};

test.describe('customer intelligence', () => {
  test.beforeEach(async ({ loginPage }) => {
    await loginPage.loginAsOperator();
  });

  test('silent churners come first, as intervention moments', async ({ page, request }) => {
    const api: Customer[] = (await (await request.get('/api/v1/ops/customers', { headers: auth })).json()).customers;
    const silent = api.filter((c) => c.silent_churn);
    // The demo world has silent churners by construction.
    expect(silent.length).toBeGreaterThan(0);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Customer Intelligence/ }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Customer Intelligence' })).toBeVisible();
    await expect(page.getByTestId('customers-count')).toHaveText(`${api.length} of ${api.length} customers`);
    const rows = page.getByTestId('customer-row');
    await expect(rows).toHaveCount(api.length);
    for (let i = 0; i < silent.length; i++) {
      await expect(rows.nth(i)).toHaveAttribute('data-silent', 'true');
      await expect(rows.nth(i).locator('.customer-name')).toHaveText(silent[i].tenant_name);
    }
    await expect(rows.nth(silent.length)).toHaveAttribute('data-silent', 'false');
    await expect(page.getByTestId('interventions')).toContainText(`${silent.length} customers went silent`);
  });

  test('filters by intent and searches by name', async ({ page, request }) => {
    const api: Customer[] = (await (await request.get('/api/v1/ops/customers', { headers: auth })).json()).customers;
    const legal = api.filter((c) => c.inferred_intent === 'Legal/Compliance');
    await page.goto('/customers');
    await page.getByLabel('Intent').selectOption('Legal/Compliance');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect(page).toHaveURL(/intent=Legal/);
    await expect(page.getByTestId('customers-count')).toHaveText(`${legal.length} of ${api.length} customers`);

    await page.getByRole('link', { name: 'Clear' }).click();
    await page.getByLabel('Search by name').fill('acme');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect(page.getByTestId('customer-row').first().locator('.customer-name')).toHaveText('acme-ai');

    // Sorting by a column header keeps the filter and orders the rows.
    await page.goto('/customers?sort=name');
    const names = await page.getByTestId('customer-row').locator('.customer-name').allTextContents();
    expect(names).toEqual([...names].sort());
  });

  test('a profile shows evidence and the activity chart, and Force Replay Demo opens the Replay Lab', async ({
    page,
    request,
  }) => {
    const api: Customer[] = (await (await request.get('/api/v1/ops/customers', { headers: auth })).json()).customers;
    const first = api[0];
    const profile = await (await request.get(`/api/v1/ops/customers/${first.tenant_id}`, { headers: auth })).json();

    await page.goto('/customers');
    await page.getByTestId('customer-row').first().locator('.customer-name').click();
    await expect(page).toHaveURL(new RegExp(`/customers/${first.tenant_id}$`));
    await expect(page.getByTestId('customer-name')).toHaveText(first.tenant_name);
    await expect(page.getByTestId('intent')).toHaveText(first.inferred_intent);
    await expect(page.getByTestId('intent-evidence')).toHaveText(first.intent_evidence);
    await expect(page.getByTestId('churn-risk')).toHaveText(first.churn_risk);
    await expect(page.locator('#activity-chart canvas').first()).toBeVisible();
    const apiCalls = profile.trends.find((t: { series: string }) => t.series === 'API calls');
    await expect(page.getByTestId('trends')).toContainText(`API calls${apiCalls.total}`);

    await page.getByRole('link', { name: 'Force Replay Demo' }).click();
    await expect(page).toHaveURL(new RegExp(`/replay\\?tenant_id=${first.tenant_id}&incident_id=${profile.latest_incident}`));
    await expect(page.getByRole('heading', { level: 1, name: 'Replay Lab' })).toBeVisible();
  });

  test('an unknown tenant is a 404 with a way back', async ({ page }) => {
    const response = await page.goto('/customers/00000000-0000-0000-0000-0000000000ff');
    expect(response?.status()).toBe(404);
    await expect(page.getByRole('heading', { level: 1, name: 'Customer not found' })).toBeVisible();
    await expect(page.getByTestId('customer-missing').getByRole('link', { name: 'See every customer' })).toBeVisible();
    await expect(page.locator('#activity-chart')).toBeHidden();
  });
});
