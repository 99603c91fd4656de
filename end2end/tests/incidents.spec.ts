import { expect, test } from '../pages/fixtures';

// Incident Intelligence on the demo world: the page shows what GET
// /api/v1/ops/incidents/patterns answers (whose numbers the Rust suite checks on hand-computed
// fixtures), the world's v12 regression with its four tenants, and Rollback end to end.
const apiToken = process.env.E2E_API_TOKEN ?? '';
const auth = { authorization: `Bearer ${apiToken}` };
const FOUR = ['acme-ai', 'beta-corp', 'delta-io', 'gamma-inc'];

type Share = { pct: number };
type Regression = {
  policy_id: string;
  policy_version: string;
  previous_version: string;
  affected_tenants: string[];
  affected_names: string[];
  rollout_at: string;
  detected_at: string;
};

test.describe('incident intelligence', () => {
  test.beforeEach(async ({ loginPage }) => {
    await loginPage.loginAsOperator();
  });

  test('the v12 regression is shown with its four tenants, within the hour', async ({ page, request }) => {
    const api = await (await request.get('/api/v1/ops/incidents/patterns', { headers: auth })).json();
    const r: Regression = api.regressions.find(
      (x: Regression) => x.policy_id === 'CONTENT_ACCURACY' && x.policy_version === 'v12',
    );
    expect(r.previous_version).toBe('v11');
    expect([...r.affected_names].sort()).toEqual(FOUR);
    expect(r.affected_tenants).toHaveLength(4);
    const minutes = (Date.parse(r.detected_at) - Date.parse(r.rollout_at)) / 60_000;
    expect(minutes).toBeLessThanOrEqual(60);
    // Shares add up.
    for (const list of [api.by_model, api.by_policy, api.attribution] as Share[][]) {
      expect(Math.round(list.reduce((s, x) => s + x.pct, 0) * 10)).toBe(1000);
    }

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Incident Intelligence/ }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Incident Intelligence' })).toBeVisible();
    const card = page.locator('[data-testid="regression"][data-version="v12"]');
    await expect(card.getByRole('heading', { level: 2 })).toContainText('CONTENT_ACCURACY v12');
    await expect(card.locator('.affected-tenant')).toHaveText(FOUR);
    await expect(card.getByTestId("detected")).toContainText(`${Math.floor(minutes)} min after the rollout`);
    await expect(card.getByRole('button', { name: 'Rollback to v11' })).toBeVisible();

    // The heatmaps and the attribution agree with the API.
    await expect(page.getByTestId('by-model').locator('li')).toHaveCount(api.by_model.length);
    await expect(page.getByTestId('by-policy').locator('li')).toHaveCount(api.by_policy.length);
    await expect(page.getByTestId('attribution').locator('li')).toHaveCount(6);
    await expect(page.getByTestId('attribution').locator('li').first()).toContainText(
      `${api.attribution[0].pct.toFixed(1)}%`,
    );
    // Each share's bar fills its track by its share: the first model's, measured in pixels.
    const share = page.getByTestId('by-model').locator('li').first();
    const [bar, track] = await Promise.all([
      share.locator('.meter .bar').boundingBox(),
      share.locator('.meter').boundingBox(),
    ]);
    expect(bar!.width / track!.width).toBeCloseTo(api.by_model[0].pct / 100, 2);
    await expect(page.locator('#incident-matrix canvas').first()).toBeVisible();
    await expect(page.getByTestId('incident-row').first()).toBeVisible();

    // Diff Outputs: the same question under v11 and under v12.
    await card.getByTestId('diff-outputs').click();
    await expect(card.getByTestId('output-diff').first()).toBeVisible();
    // The regressed version answers worse: some words differ.
    await expect(card.locator('[data-testid="output-diff"] :is(del, ins)').first()).toBeVisible();
    // Replay Samples offers incidents of v12 under v11.
    await card.getByTestId('replay-samples').click();
    await expect(card.locator('.sample-links a').first()).toHaveAttribute('href', /policy_version=v11/);
  });

  test('Rollback asks first, then the log shows it and the active version changed; undo restores it', async ({ page }) => {
    await page.goto('/incidents');
    const card = page.locator('[data-testid="regression"][data-version="v12"]');
    await expect(card.getByTestId('rollback-state')).toContainText('4 of 4 affected tenants still run v12');

    // Cancelling changes nothing; Escape closes the dialog too.
    await card.getByTestId('rollback').click();
    const dialog = page.getByRole('dialog', { name: 'Roll CONTENT_ACCURACY back to v11?' });
    // Keyboard users land in the dialog, even on the first open, when its code is fetched then.
    await expect(dialog.getByLabel('Why')).toBeFocused();
    await expect(dialog.getByTestId('rollback-changes').locator('li')).toHaveText(FOUR.map((t) => `${t}: v12 → v11`));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toBeHidden();
    await card.getByTestId('rollback').click();
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    await expect(page.getByTestId('audit-empty')).toBeVisible();

    // The whole-fleet choice says what it would do instead.
    await card.getByTestId('rollback').click();
    await dialog.getByTestId('scope-all').check();
    await expect(dialog.getByTestId('rollback-changes')).toContainText('Every tenant runs v11');
    await dialog.getByLabel('Only the 4 affected tenants').check();
    // A reason is required.
    await dialog.getByTestId('confirm-rollback').click();
    await expect(dialog).toBeVisible();
    await dialog.getByLabel('Why').fill('severity up since v12');
    await dialog.getByTestId('confirm-rollback').click();
    await expect(dialog).toBeHidden();
    await expect(page.getByTestId('policy-outcome')).toContainText('Rolled back');

    const entry = page.getByTestId('audit-entry').first();
    await expect(entry).toContainText('rollback CONTENT_ACCURACY: v12 → v11');
    await expect(entry).toContainText(process.env.E2E_EMAIL ?? '');
    await expect(entry).toContainText('severity up since v12');
    await expect(entry).toContainText('acme-ai, beta-corp, delta-io, gamma-inc');
    const row = page.locator('[data-testid="active-version"][data-policy="CONTENT_ACCURACY"]');
    await expect(row.getByTestId('pins')).toHaveText('acme-ai: v11, beta-corp: v11, delta-io: v11, gamma-inc: v11');
    await expect(card.getByTestId('rollback-state')).toContainText('rolled back: every affected tenant runs v11');

    // Undo puts it back and is logged in turn.
    await entry.getByTestId('undo').click();
    await expect(page.getByTestId('policy-outcome')).toContainText('undone');
    await expect(page.getByTestId('audit-entry').first()).toContainText('undo CONTENT_ACCURACY: v11 → v12');
    await expect(row.getByTestId('pins')).toHaveText('—');
    await expect(card.getByTestId('rollback-state')).toContainText('4 of 4 affected tenants still run v12');
  });

  test('a customer profile links to its incidents', async ({ page, request }) => {
    const api = await (await request.get('/api/v1/ops/incidents/patterns', { headers: auth })).json();
    const r: Regression = api.regressions[0];
    const tenant = r.affected_tenants[0];
    await page.goto(`/incidents?tenant_id=${tenant}`);
    await expect(page.getByTestId('tenant-filter')).toContainText(r.affected_names[0]);
    const own = await (
      await request.get(`/api/v1/ops/incidents/patterns?tenant_id=${tenant}`, { headers: auth })
    ).json();
    await expect(page.getByTestId('incident-row')).toHaveCount(Math.min(own.total, 50));
    await expect(page.locator('[data-testid="regression"][data-version="v12"]')).toBeVisible();
    // The window choice keeps the filter.
    await page.getByRole('link', { name: 'Last 7 days' }).click();
    await expect(page).toHaveURL(new RegExp(`hours=168&tenant_id=${tenant}`));
  });
});
