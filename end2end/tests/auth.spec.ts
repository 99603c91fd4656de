import { E2E_EMAIL, e2ePassword } from '../pages/credentials';
import { expect, test } from '../pages/fixtures';
import { TABS } from '../pages/Shell';

test.describe('authentication', () => {
  test('an unauthenticated visit to /events redirects to /login', async ({ page, loginPage }) => {
    await page.goto('/events');
    await loginPage.expectOnLoginPage();
    await expect(loginPage.email).toBeVisible();
    await expect(loginPage.password).toBeVisible();
  });

  test('a wrong password shows an alert and stays on /login', async ({ page, loginPage, shell }) => {
    await loginPage.goto();
    await loginPage.submit(E2E_EMAIL, `${e2ePassword()}-wrong`);
    await expect(loginPage.wrongCredentials).toBeVisible();
    await loginPage.expectOnLoginPage();
    await expect(shell.logOut).toHaveCount(0);

    // An unknown email gets the same answer (no hint which part was wrong).
    await loginPage.goto();
    await expect(loginPage.wrongCredentials).toHaveCount(0);
    await loginPage.submit('nobody@ops.local', e2ePassword());
    await expect(loginPage.wrongCredentials).toBeVisible();
    await expect(page).toHaveURL((url) => url.pathname === '/login');
  });

  test('the right password lands on / with the shell; log out ends the session', async ({
    page,
    loginPage,
    shell,
  }) => {
    await loginPage.loginAsOperator();
    await shell.expectVisible();
    for (const tab of TABS) {
      await expect(shell.navLink(tab)).toBeVisible();
    }
    await expect(loginPage.wrongCredentials).toHaveCount(0);

    await shell.logOut.click();
    await loginPage.expectOnLoginPage();

    await page.goto('/events');
    await loginPage.expectOnLoginPage();
  });
});
