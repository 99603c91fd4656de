import { readFileSync } from 'node:fs';
import { expect, test } from '../pages/fixtures';

// Replay Lab on the demo world: from an incident of the v12 regression, re-run it under v11
// with another model, see both outputs, the diff and the delta; export; shadow-test; promote.
const apiToken = process.env.E2E_API_TOKEN ?? '';
const auth = { authorization: `Bearer ${apiToken}` };

test.describe('replay lab', () => {
  test.beforeEach(async ({ loginPage }) => {
    await loginPage.loginAsOperator();
  });

  test('from Incident Intelligence, replay under v11 with another model', async ({ page, request }) => {
    const api = await (await request.get('/api/v1/ops/incidents/patterns', { headers: auth })).json();
    const sample: string = api.regressions[0].sample_incidents[0];
    await page.goto('/incidents');
    const card = page.locator('[data-testid="regression"][data-version="v12"]');
    await card.getByTestId('replay-samples').click();
    await card.locator(`.sample-links a[href^="/replay/${sample}"]`).click();
    await expect(page).toHaveURL(new RegExp(`/replay/${sample}\\?policy_version=v11`));
    await expect(page.getByTestId('original')).toContainText('CONTENT_ACCURACY v12');

    // The dropdowns: the Replay Samples link chose v11; switch the model too.
    await expect(page.getByLabel('Policy version')).toHaveValue('v11');
    // The original answer's verdict, as the API judges it (which one depends on the sample).
    const c = await (
      await request.post('/api/v1/ops/replays', {
        headers: auth,
        data: { incident_id: sample, model: 'claude-3-haiku', policy_version: 'v11' },
      })
    ).json();
    await expect(page.getByTestId('original').getByTestId('verdict')).toHaveText(
      new RegExp(`(^|\\s)${c.original.verdict}$`),
    );
    await page.getByLabel('Policy version').selectOption('v12');
    await page.getByLabel('Policy version').selectOption('v11');
    await page.getByLabel('Model').selectOption('claude-3-haiku');
    await page.getByTestId('run-replay').click();
    const comparison = page.getByTestId('comparison');
    await expect(comparison).toBeVisible();
    await expect(comparison.getByText('Original', { exact: true })).toBeVisible();
    await expect(comparison.getByText('Replay (v11)')).toBeVisible();
    await expect(comparison.getByTestId('verdict')).toHaveCount(2);
    await expect(comparison.getByTestId('delta-severity')).toContainText('→');
    await expect(comparison.getByTestId('determinism')).toContainText('EXACT over 3 run(s)');
    await expect(page.getByTestId('replay-diff').locator('del, ins').first()).toBeVisible();

    // The same replay through the API gives the page's numbers.
    await expect(comparison.getByTestId('delta-severity')).toContainText(
      `${c.original.severity} → ${c.replay.severity}`,
    );

    // Export Comparison downloads a file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-md').click()]);
    expect(download.suggestedFilename()).toMatch(/^replay-[0-9a-f]{8}\.md$/);
    expect(readFileSync(await download.path(), 'utf8')).toContain('# Replay of incident');
  });

  test('the shadow test shows its aggregate, and promote is confirmed, logged and undone', async ({ page, request }) => {
    const api = await (await request.get('/api/v1/ops/incidents/patterns', { headers: auth })).json();
    const sample: string = api.regressions[0].sample_incidents[0];
    await page.goto(`/replay/${sample}?policy_version=v11`);
    // A click before the WASM has taken the page over would submit the form natively.
    await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);

    await page.getByLabel('Candidate').selectOption('v11');
    await page.getByLabel('Latest incidents').fill('20');
    await page.getByTestId('run-shadow').click();
    await expect(page.getByTestId('shadow-count')).toHaveText('20');
    await expect(page.getByTestId('shadow-severity')).toContainText('→');

    await page.getByTestId('promote').click();
    const dialog = page.getByRole('dialog', { name: 'Promote CONTENT_ACCURACY v11 to all tenants?' });
    await expect(dialog).toBeVisible();
    await dialog.getByLabel('Why').fill('v12 regressed');
    await dialog.getByTestId('confirm-promote').click();
    await expect(dialog).toBeHidden();
    await expect(page.getByTestId('promote-note')).toContainText('Promoted');
    const entry = page.getByTestId('audit-entry').first();
    await expect(entry).toContainText('promote CONTENT_ACCURACY');
    await expect(entry).toContainText('→ v11');
    await expect(entry).toContainText('every tenant');
    const row = page.locator('[data-testid="active-version"][data-policy="CONTENT_ACCURACY"]');
    await expect(row.getByTestId('default-version')).toContainText('v11 (pinned)');
    await entry.getByTestId('undo').click();
    await expect(page.getByTestId('audit-entry').first()).toContainText('undo CONTENT_ACCURACY');
    await expect(row.getByTestId('default-version')).toContainText('(newest, not pinned)');
  });

  test('an unknown incident is a real 404', async ({ page }) => {
    const response = await page.goto('/replay/00000000-0000-0000-0000-00000000beef');
    expect(response?.status()).toBe(404);
    await expect(page.getByTestId('replay-missing')).toContainText('No such incident');
    await page.goto('/replay');
    await expect(page.getByTestId('pick-list').locator('li').first()).toBeVisible();
  });
});
