import { expect, type Locator, type Page } from '@playwright/test';
import { E2E_EMAIL, e2ePassword } from './credentials';

export class LoginPage {
  readonly email: Locator;
  readonly password: Locator;
  readonly signIn: Locator;
  readonly wrongCredentials: Locator;

  constructor(readonly page: Page) {
    this.email = page.getByLabel('Email', { exact: true });
    this.password = page.getByLabel('Password', { exact: true });
    this.signIn = page.getByRole('button', { name: 'Sign in' });
    this.wrongCredentials = page.getByRole('alert').filter({ hasText: 'Wrong email or password' });
  }

  async goto(): Promise<void> {
    await this.page.goto('/login');
    await expect(this.signIn).toBeVisible();
  }

  async submit(email: string, password: string): Promise<void> {
    await this.email.fill(email);
    await this.password.fill(password);
    await this.signIn.click();
  }

  /** Logs in as the E2E operator and waits for the landing page `/`. */
  async loginAsOperator(): Promise<void> {
    await this.goto();
    await this.submit(E2E_EMAIL, e2ePassword());
    await expect(this.page).toHaveURL((url) => url.pathname === '/');
  }

  async expectOnLoginPage(): Promise<void> {
    await expect(this.page).toHaveURL((url) => url.pathname === '/login');
    await expect(this.signIn).toBeVisible();
  }
}
