import { APIRequestContext, expect, Page, request } from '@playwright/test';
import { PASSWORD } from './helpers';

/** Signs finance in on `baseURL` through the API; returns the context and its CSRF token. */
export async function financeApi(baseURL: string): Promise<{ api: APIRequestContext; csrf: string }> {
  const api = await request.newContext({ baseURL });
  const response = await api.post('/api/v1/session', { data: { email: 'finance@acme.test', password: PASSWORD } });
  expect(response.status()).toBe(200);
  const csrf = (await response.json()).csrf_token as string;
  return { api, csrf };
}

/** Imports one sale for `partnerId`, booked today, through the REST API. */
export async function importSale(api: APIRequestContext, csrf: string, partnerId: number, amount: string) {
  const today = new Date().toISOString().slice(0, 10);
  const id = `LIVE-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const csv = `external_id,partner_id,booked_on,product_line,amount,currency\n${id},${partnerId},${today},hardware,${amount},USD\n`;
  const response = await api.post('/api/v1/sales/import', {
    headers: { 'content-type': 'text/csv', 'x-csrf-token': csrf },
    data: csv,
  });
  expect(response.status(), await response.text()).toBe(200);
}

/** The figures a live update must move. */
export async function figures(page: Page) {
  return {
    revenue: await page.getByTestId('revenue-trailing-12').textContent(),
    quarter: await page.getByTestId('revenue-quarter').textContent(),
    forecast: await page.getByTestId('rebate-forecast').textContent(),
    progress: await page.getByTestId('progress').getByRole('progressbar').first().getAttribute('aria-valuetext'),
  };
}

/** Counts full navigations of the page from now on. */
export function countNavigations(page: Page) {
  const seen = { count: 0 };
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) seen.count += 1;
  });
  return seen;
}

/** Expects every figure to differ from `before` within two seconds. */
export async function expectMoved(page: Page, before: Awaited<ReturnType<typeof figures>>) {
  const options = { timeout: 2_000 };
  await expect(page.getByTestId('revenue-trailing-12')).not.toHaveText(before.revenue ?? '', options);
  await expect(page.getByTestId('revenue-quarter')).not.toHaveText(before.quarter ?? '', options);
  await expect(page.getByTestId('rebate-forecast')).not.toHaveText(before.forecast ?? '', options);
  await expect(page.getByTestId('progress').getByRole('progressbar').first()).not.toHaveAttribute(
    'aria-valuetext',
    before.progress ?? '',
    options,
  );
}
