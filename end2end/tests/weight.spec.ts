import type { Browser, Page, Request } from '@playwright/test';
import { expect, test } from '../pages/fixtures';

// The first visit of every page, in a browser with an empty cache: the WASM and JavaScript it
// fetches, counted as they crossed the wire (compressed by the server), must stay within 500 KB.
// ECharts, fetched only by pages with charts and cached apart, is not counted.
const LIMIT = 500_000;
const apiToken = process.env.E2E_API_TOKEN ?? '';
const auth = { authorization: `Bearer ${apiToken}` };

async function firstVisit(browser: Browser, storageState: object, baseURL: string, path: string) {
  const context = await browser.newContext({ storageState: storageState as never, baseURL });
  const page: Page = await context.newPage();
  const fetched: Request[] = [];
  page.on('requestfinished', (r) => fetched.push(r));
  const response = await page.goto(path);
  expect(response?.ok(), `${path} answers`).toBe(true);
  await page.locator('html[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 15_000 });
  await page.waitForLoadState('networkidle');
  let code = 0;
  let files = 0;
  for (const r of fetched) {
    const { pathname } = new URL(r.url());
    if (!/\.(wasm|js)$/.test(pathname) || pathname.startsWith('/vendor/')) continue;
    code += (await r.sizes()).responseBodySize;
    files += 1;
  }
  await context.close();
  return { code, files };
}

test.describe('page weight', () => {
  test('every page loads at most 500 KB of WASM and JS on a first visit', async ({ page, loginPage, request, browser, baseURL }) => {
    test.setTimeout(120_000);
    await loginPage.loginAsOperator();
    const session = await page.context().storageState();
    const customers = await (await request.get('/api/v1/ops/customers', { headers: auth })).json();
    const patterns = await (await request.get('/api/v1/ops/incidents/patterns', { headers: auth })).json();
    const tenant: string = customers.customers[0].tenant_id;
    const incident: string = patterns.regressions[0].sample_incidents[0];
    const paths = [
      '/', '/customers', `/customers/${tenant}`, '/incidents', '/stickiness', '/revenue', '/infra',
      '/replay', `/replay/${incident}`, '/events', '/settings',
    ];
    const weights: Record<string, number> = {};
    for (const path of paths) {
      const { code, files } = await firstVisit(browser, session, baseURL!, path);
      weights[path] = code;
      // The page's own chunks come on top of the WASM and JS every page shares.
      expect(files, `${path}: the shared module and the page's chunks`).toBeGreaterThan(3);
      expect(code, `${path}: ${code} bytes of WASM and JS`).toBeLessThanOrEqual(LIMIT);
    }
    // The sign-in page, without a session.
    weights['/login'] = (await firstVisit(browser, { cookies: [], origins: [] }, baseURL!, '/login')).code;
    expect(weights['/login']).toBeLessThanOrEqual(LIMIT);
    console.log(Object.entries(weights).map(([p, b]) => `${p} ${(b / 1000).toFixed(1)} KB`).join('\n'));
  });
});
