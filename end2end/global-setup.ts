import type { FullConfig } from '@playwright/test';

// Waits for the server: `GET /readyz` must answer 200 (the database answers too).
export default async function globalSetup(config: FullConfig): Promise<void> {
  const baseURL =
    (config.projects[0]?.use?.baseURL as string | undefined) ??
    process.env.BASE_URL ??
    'http://127.0.0.1:3137';
  const url = new URL('/readyz', baseURL).toString();
  const deadline = Date.now() + 60_000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} did not answer 200 within 60 s (last: ${last})`);
}
