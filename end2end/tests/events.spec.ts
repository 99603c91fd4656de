import { expect, test } from '../pages/fixtures';
import { NAV_LINKS } from '../pages/Shell';

test.describe('events explorer', () => {
  test.beforeEach(async ({ loginPage, shell, eventsPage }) => {
    await loginPage.loginAsOperator();
    await shell.open('Events');
    await eventsPage.expectLoaded();
  });

  test('the shell nav shows the seven tabs and Events', async ({ shell }) => {
    await shell.expectVisible();
    for (const name of NAV_LINKS) {
      await expect(shell.navLink(name)).toBeVisible();
    }
  });

  test('the table lists events and the filter form offers every type', async ({ eventsPage }) => {
    await expect(eventsPage.table).toBeVisible();
    await expect(eventsPage.rows.first()).toBeVisible();
    expect(await eventsPage.rows.count()).toBeGreaterThan(1);

    const options = await eventsPage.eventTypeOptions();
    expect(options[0]).toEqual({ value: '', label: 'All types' });
    expect(options).toHaveLength(16);
    expect(options.map((o) => o.value)).toContain('INCIDENT_CREATED');

    await expect(eventsPage.tenant).toBeVisible();
    await expect(eventsPage.from).toBeVisible();
    await expect(eventsPage.to).toBeVisible();
    await expect(eventsPage.reset).toBeVisible();

    // Each row keeps its metadata behind a <details> disclosure (ARIA role "group").
    const details = eventsPage.rows.first().getByRole('group');
    await expect(details).toBeVisible();
    await expect(details).toContainText('metadata');
  });

  test('filtering by event type shows only that type', async ({ page, eventsPage }) => {
    await eventsPage.filterByType('INCIDENT_CREATED');
    await expect(page).toHaveURL(/[?&]event_type=INCIDENT_CREATED(&|$)/);
    await expect
      .poll(async () => {
        const types = await eventsPage.visibleTypes();
        return types.length > 0 && types.every((t) => t === 'INCIDENT_CREATED');
      })
      .toBe(true);
    await expect(eventsPage.eventType).toHaveValue('INCIDENT_CREATED');

    await eventsPage.reset.click();
    await expect(page).not.toHaveURL(/event_type=/);
    await expect(eventsPage.eventType).toHaveValue('');
    await expect(eventsPage.rows.first()).toBeVisible();
  });

  test('"Older events" pages forward with a cursor and "Newest" comes back', async ({
    page,
    eventsPage,
  }) => {
    // A fixed end, so the server's own resource samples arriving meanwhile (one a minute) do
    // not change what the newest page shows.
    const to = new Date(Date.now() - 60_000).toISOString().slice(0, 16);
    await eventsPage.goto(`?to=${to}`);
    await expect(page).not.toHaveURL(/cursor=/);
    const newestFirstRow = await eventsPage.firstRowText();

    await eventsPage.olderEvents.click();
    await expect(page).toHaveURL(/[?&]cursor=/);
    await expect(eventsPage.rows.first()).toBeVisible();
    await expect(eventsPage.rows.first()).not.toHaveText(newestFirstRow);

    await eventsPage.newest.click();
    await expect(page).not.toHaveURL(/cursor=/);
    await expect(eventsPage.rows.first()).toHaveText(newestFirstRow);
  });

  test('the chart draws on a canvas', async ({ eventsPage }) => {
    await expect(eventsPage.chart).toBeVisible();
    await expect(eventsPage.chartCanvas).toBeVisible();
    await expect
      .poll(async () => {
        const px = await eventsPage.chartPixels();
        return px.painted > 0 && px.colours >= 2;
      }, { message: 'the chart canvas stays blank' })
      .toBe(true);
  });
});

test.describe('chart loading', () => {
  test('pages without charts do not load ECharts', async ({ page, loginPage }) => {
    await loginPage.loginAsOperator();
    // The landing page has charts: look at a fresh tab (same session) that opens a chart-less page.
    const tab = await page.context().newPage();
    const requested: string[] = [];
    tab.on('request', (r) => requested.push(new URL(r.url()).pathname));
    await tab.goto('/customers');
    await expect(tab.getByRole('heading', { level: 1, name: 'Customer Intelligence' })).toBeVisible();
    await tab.waitForLoadState('networkidle');
    expect(requested.filter((p) => p.includes('echarts'))).toEqual([]);
    expect(await tab.evaluate(() => 'echarts' in window)).toBe(false);

    await tab.goto('/events');
    await expect(tab.getByTestId('events-chart').locator('canvas').first()).toBeVisible();
    expect(requested).toContain('/vendor/echarts.min.js');
    await tab.close();
  });
});
