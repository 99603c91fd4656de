import { expect, type Locator, type Page } from '@playwright/test';

export class EventsPage {
  readonly heading: Locator;
  readonly eventType: Locator;
  readonly tenant: Locator;
  readonly from: Locator;
  readonly to: Locator;
  readonly apply: Locator;
  readonly reset: Locator;
  readonly table: Locator;
  readonly rows: Locator;
  readonly typeCells: Locator;
  readonly olderEvents: Locator;
  readonly newest: Locator;
  readonly chart: Locator;
  readonly chartCanvas: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { level: 1, name: 'Events' });
    this.eventType = page.getByLabel('Event type');
    this.tenant = page.getByLabel('Tenant');
    this.from = page.getByLabel('From', { exact: true });
    this.to = page.getByLabel('To', { exact: true });
    this.apply = page.getByRole('button', { name: 'Apply' });
    this.reset = page.getByRole('link', { name: 'Reset' });
    this.table = page.getByTestId('events-table');
    this.rows = this.table.getByTestId('event-row');
    this.typeCells = this.rows.getByTestId('event-type');
    this.olderEvents = page.getByTestId('next-page');
    this.newest = page.getByTestId('first-page');
    this.chart = page.getByTestId('events-chart');
    this.chartCanvas = this.chart.locator('canvas').first();
  }

  async goto(query = ''): Promise<void> {
    await this.page.goto(`/events${query}`);
    await this.expectLoaded();
  }

  async expectLoaded(): Promise<void> {
    await expect(this.page).toHaveURL((url) => url.pathname === '/events');
    await expect(this.heading).toBeVisible();
  }

  /** The (value, label) pairs of the event type select. */
  async eventTypeOptions(): Promise<Array<{ value: string; label: string }>> {
    return this.eventType.evaluate((el) =>
      Array.from((el as HTMLSelectElement).options).map((o) => ({
        value: o.value,
        label: o.text.trim(),
      })),
    );
  }

  async filterByType(eventType: string): Promise<void> {
    await this.eventType.selectOption(eventType);
    await this.apply.click();
  }

  async visibleTypes(): Promise<string[]> {
    return (await this.typeCells.allTextContents()).map((t) => t.trim());
  }

  async firstRowText(): Promise<string> {
    await expect(this.rows.first()).toBeVisible();
    return (await this.rows.first().textContent()) ?? '';
  }

  /**
   * Pixel statistics of the chart canvas: how many pixels have alpha > 0 and how many
   * distinct colours they use (counting stops at 64).
   */
  async chartPixels(): Promise<{ width: number; height: number; painted: number; colours: number }> {
    return this.chartCanvas.evaluate((el) => {
      const canvas = el as HTMLCanvasElement;
      const ctx = canvas.getContext('2d');
      if (!ctx || canvas.width === 0 || canvas.height === 0) {
        return { width: canvas.width, height: canvas.height, painted: 0, colours: 0 };
      }
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const colours = new Set<number>();
      let painted = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 0) {
          painted++;
          if (colours.size < 64) {
            colours.add(((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]) * 256 + data[i + 3]);
          }
        }
      }
      return { width: canvas.width, height: canvas.height, painted, colours: colours.size };
    });
  }
}
