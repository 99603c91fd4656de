import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from '../pages/fixtures';
import { THRESHOLD_LABELS } from '../pages/SettingsPage';

// Alert settings on the demo world: thresholds that start at the spec's values, refuse nonsense,
// and change what the pulse says; webhooks that take a test message and then the real alert
// raised by the change. The webhook is a real HTTP server in this test process.
const apiToken = process.env.E2E_API_TOKEN ?? '';

type Received = { text: string; alert: unknown };

function receiver(): Promise<{ url: string; received: Received[]; close: () => void }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(200).end('ok');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/hooks/ops-secret-token`, received, close: () => server.close() });
    }),
  );
}

test.describe('alert settings', () => {
  test.beforeEach(async ({ loginPage }) => {
    await loginPage.loginAsOperator();
  });

  test('thresholds start at the spec values and refuse nonsense without changing anything', async ({
    shell,
    settingsPage,
    page,
  }) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Alert settings/ }).click();
    await expect(page).toHaveURL(/\/settings$/);
    await expect(shell.nav).toBeVisible();
    const spec = ['20', '50', '30', '40', '5', '80'];
    for (const [i, label] of THRESHOLD_LABELS.entries()) {
      await expect(settingsPage.threshold(label)).toHaveValue(spec[i]);
    }
    await settingsPage.setThreshold('Active tenants drop', '0');
    await expect(settingsPage.outcome('thresholds')).toHaveAttribute('role', 'alert');
    await expect(settingsPage.outcome('thresholds')).toContainText('Active tenants drop: must be more than 0%');
    await settingsPage.goto();
    await expect(settingsPage.threshold('Active tenants drop')).toHaveValue('20');
  });

  test('a webhook takes a test message, then the alert a threshold change raises', async ({
    settingsPage,
    page,
    request,
  }) => {
    const hook = await receiver();
    try {
      await settingsPage.goto();
      await settingsPage.webhookUrl.fill('ftp://example.com/hook');
      await settingsPage.addWebhook.click();
      await expect(settingsPage.outcome('webhooks')).toContainText('https:// or http://');

      await settingsPage.webhookUrl.fill(hook.url);
      await settingsPage.addWebhook.click();
      await expect(settingsPage.outcome('webhooks')).toContainText('Webhook added');
      // The secret part of the address is not shown.
      await expect(settingsPage.webhooks).toContainText('/…oken');
      await expect(settingsPage.webhooks).not.toContainText('ops-secret-token');

      await settingsPage.webhooks.getByRole('button', { name: /Send a test message/ }).click();
      await expect(settingsPage.outcome('webhooks')).toContainText('took the test message');
      expect(hook.received.map((m) => m.text)).toEqual(['Ops Console: test message. Alerts will arrive here.']);

      // Every resource is above 1% of its limit: the pulse turns to ACTIVE FAILURE.
      await settingsPage.setThreshold('Infra saturation', '1');
      await expect(settingsPage.outcome('thresholds')).toContainText('Saved');
      const pulse = await (
        await request.get('/api/v1/ops/pulse', { headers: { authorization: `Bearer ${apiToken}` } })
      ).json();
      expect(pulse.system_state).toBe('ACTIVE_FAILURE');
      await expect
        .poll(() => hook.received.map((m) => m.text).join('\n'))
        .toContain('→ ACTIVE FAILURE');

      await page.getByRole('link', { name: /System Pulse/ }).click();
      await expect(page.getByTestId('system-state-label')).toHaveText('ACTIVE FAILURE');
      await expect(page.getByTestId('card-infra')).toContainText('Any > 1% — crossed');
      const raised = page.getByTestId('alert-history').locator('li').filter({ hasText: '→ ACTIVE FAILURE' }).first();
      await expect(raised).toBeVisible();
      // The delivery is recorded just after the webhook answers.
      await expect(async () => {
        await page.reload();
        await expect(raised).toContainText('Sent to 1 webhook.', { timeout: 2_000 });
      }).toPass();

      // Back to the spec's value; the recovery is an alert too.
      await settingsPage.goto();
      await settingsPage.setThreshold('Infra saturation', '80');
      await expect(settingsPage.outcome('thresholds')).toContainText('Saved');
      await expect.poll(() => hook.received.map((m) => m.text).join('\n')).toContain('ACTIVE FAILURE →');

      await settingsPage.webhooks.getByRole('button', { name: /^Remove/ }).click();
      await expect(settingsPage.noWebhooks).toBeVisible();
    } finally {
      hook.close();
    }
  });
});
