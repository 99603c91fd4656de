import { expect, test } from '../pages/fixtures';

const apiToken = process.env.E2E_API_TOKEN ?? '';

test.describe('infra & limits', () => {
  test('Redis shows its days to limit, sentence and a drawn trend chart', async ({ page, loginPage, request }) => {
    const api = await (await request.get('/api/v1/ops/infra', { headers: { authorization: `Bearer ${apiToken}` } })).json();
    const redisIndex = api.resources.findIndex((r: { resource: string }) => r.resource === 'redis');
    expect(redisIndex).toBeGreaterThanOrEqual(0);
    const redis = api.resources[redisIndex];
    // The demo's Redis grows towards its limit.
    expect(redis.days_to_exhaustion).not.toBeNull();

    await loginPage.loginAsOperator();
    await page.goto('/infra');
    await expect(page.getByRole('heading', { level: 1, name: 'Infra & Limits' })).toBeVisible();
    const card = page.getByTestId(`resource-${redisIndex}`);
    await expect(card.getByTestId('resource-name')).toHaveText('redis');
    await expect(card.getByTestId('days-to-limit')).toHaveText(`${Math.round(redis.days_to_exhaustion)} days`);
    await expect(card.getByTestId('resource-sentence')).toBeVisible();
    await expect(card.locator('canvas').first()).toBeVisible();
    // Every reporting resource is listed.
    for (let i = 0; i < api.resources.length; i++) {
      await expect(page.getByTestId(`resource-${i}`).getByTestId('resource-name')).toHaveText(api.resources[i].resource);
    }
  });
});
