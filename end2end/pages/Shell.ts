import { expect, type Locator, type Page } from '@playwright/test';

/** The seven analytics tabs, in nav order, then Events. */
export const TABS = [
  'System Pulse',
  'Customer Intelligence',
  'Incident Intelligence',
  'Product Stickiness',
  'Revenue & Risk',
  'Infra & Limits',
  'Replay Lab',
] as const;

export const NAV_LINKS = [...TABS, 'Events'] as const;

export type NavLinkName = (typeof NAV_LINKS)[number];

export class Shell {
  readonly nav: Locator;
  readonly logOut: Locator;

  constructor(readonly page: Page) {
    this.nav = page.getByRole('navigation', { name: 'Main' });
    this.logOut = page.getByRole('button', { name: 'Log out' });
  }

  navLink(name: NavLinkName): Locator {
    return this.nav.getByRole('link', { name });
  }

  async open(name: NavLinkName): Promise<void> {
    await this.navLink(name).click();
  }

  async expectVisible(): Promise<void> {
    await expect(this.nav).toBeVisible();
    await expect(this.logOut).toBeVisible();
  }
}
