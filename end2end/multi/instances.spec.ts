import { expect, test } from '@playwright/test';
import { hydrated, signIn } from '../tests/helpers';
import { countNavigations, expectMoved, figures, financeApi, importSale } from '../tests/live';

// Two Atrium instances share one Postgres database: the browser is on A, the import goes to B.
const second = process.env.ATRIUM_SECOND_URL;

test('an import on instance B moves the scorecard open on instance A', async ({ page }) => {
  expect(second, 'ATRIUM_SECOND_URL names instance B').toBeTruthy();
  await signIn(page, 'admin@northwind.test');
  await page.goto('/scorecard');
  await hydrated(page);
  await expect(page.locator('body')).toHaveAttribute('data-live', 'on');
  const me = await (await page.request.get('/api/v1/me')).json();
  const before = await figures(page);
  const navigations = countNavigations(page);

  const { api, csrf } = await financeApi(second!);
  await importSale(api, csrf, me.organisation.id, '5000.00');
  await expectMoved(page, before);
  expect(navigations.count).toBe(0);
  await api.dispose();
});
