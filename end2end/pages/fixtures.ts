import { test as base, expect } from '@playwright/test';
import { EventsPage } from './EventsPage';
import { LoginPage } from './LoginPage';
import { SettingsPage } from './SettingsPage';
import { Shell } from './Shell';

type Pages = {
  loginPage: LoginPage;
  shell: Shell;
  eventsPage: EventsPage;
  settingsPage: SettingsPage;
};

/**
 * The suite's `test`: page objects as fixtures, and every test fails when the page threw an
 * uncaught error (a panic in the WASM, a failed hydration) or the Content-Security-Policy
 * blocked something.
 */
export const test = base.extend<Pages>({
  page: async ({ page }, use) => {
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(`${err.name}: ${err.message}`));
    // A script, style or connection the Content-Security-Policy blocked.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && msg.text().includes('Content Security Policy')) errors.push(msg.text());
    });
    // A server-rendered page shows its buttons before the WASM has attached their handlers (each
    // page's code is its own chunk, loaded after the HTML): a click then does nothing. Every
    // navigation to one of our pages waits until the client has hydrated it, as a person would
    // wait for it to settle.
    const goto = page.goto.bind(page);
    page.goto = async (url, options) => {
      const response = await goto(url, options);
      if (response?.ok() && (response.headers()['content-type'] ?? '').startsWith('text/html')) {
        await page.locator('html[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 15_000 });
      }
      return response;
    };
    await use(page);
    expect(errors, 'uncaught errors in the page').toEqual([]);
  },
  loginPage: async ({ page }, use) => {
    await use(new LoginPage(page));
  },
  shell: async ({ page }, use) => {
    await use(new Shell(page));
  },
  eventsPage: async ({ page }, use) => {
    await use(new EventsPage(page));
  },
  settingsPage: async ({ page }, use) => {
    await use(new SettingsPage(page));
  },
});

export { expect };
