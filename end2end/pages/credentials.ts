// The operator login of the server under test (scripts/test exports these).
export const E2E_EMAIL = process.env.E2E_EMAIL ?? 'admin@ops.local';

export function e2ePassword(): string {
  const password = process.env.E2E_PASSWORD;
  if (!password) {
    throw new Error('E2E_PASSWORD is not set: run the suite through scripts/test');
  }
  return password;
}
