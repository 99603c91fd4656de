import { expect, type Locator, type Page } from '@playwright/test';

/** The threshold fields in form order, by their labels. */
export const THRESHOLD_LABELS = [
  'Active tenants drop',
  'Incident spike',
  'Replays drop',
  'Exports drop',
  'Failed LLM calls',
  'Infra saturation',
] as const;

export type ThresholdLabel = (typeof THRESHOLD_LABELS)[number];

export class SettingsPage {
  readonly save: Locator;
  readonly webhookUrl: Locator;
  readonly addWebhook: Locator;
  readonly webhooks: Locator;
  readonly noWebhooks: Locator;

  constructor(readonly page: Page) {
    this.save = page.getByRole('button', { name: 'Save thresholds' });
    this.webhookUrl = page.getByLabel('Add a webhook');
    this.addWebhook = page.getByRole('button', { name: 'Add', exact: true });
    this.webhooks = page.getByTestId('webhooks');
    this.noWebhooks = page.getByTestId('no-webhooks');
  }

  async goto(): Promise<void> {
    await this.page.goto('/settings');
    await expect(this.page.getByRole('heading', { level: 1, name: 'Alert settings' })).toBeVisible();
    await expect(this.save).toBeVisible();
  }

  threshold(label: ThresholdLabel): Locator {
    return this.page.getByLabel(label, { exact: true });
  }

  async setThreshold(label: ThresholdLabel, percent: string): Promise<void> {
    await this.threshold(label).fill(percent);
    await this.save.click();
  }

  /** What the card's last form answered: a status when it worked, an alert when refused. */
  outcome(card: 'thresholds' | 'webhooks'): Locator {
    return this.page.getByTestId(`${card}-outcome`);
  }
}
