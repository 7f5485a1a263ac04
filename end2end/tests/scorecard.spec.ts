import { expect, test } from '@playwright/test';
import { DESKTOP, hydrated, noHorizontalScroll, PHONE, signIn, snap, wordsWhole } from './helpers';
import { countNavigations, expectMoved, figures, financeApi, importSale } from './live';

const TABLET = { width: 768, height: 1024 };

test.describe('the live scorecard', () => {
  test('a sale imported through the API moves revenue, progress and forecast on screen', async ({ page, baseURL }) => {
    await page.setViewportSize(DESKTOP);
    await signIn(page, 'admin@northwind.test');
    await page.goto('/scorecard');
    await hydrated(page);
    await expect(page.locator('body')).toHaveAttribute('data-live', 'on');
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Scorecard');
    const me = await (await page.request.get('/api/v1/me')).json();
    const before = await figures(page);
    const navigations = countNavigations(page);

    const { api, csrf } = await financeApi(baseURL!);
    await importSale(api, csrf, me.organisation.id, '12345.67');
    await expectMoved(page, before);
    expect(navigations.count).toBe(0);
    await api.dispose();

    for (const [name, size] of [['390', PHONE], ['768', TABLET], ['1280', DESKTOP]] as const) {
      await page.setViewportSize(size);
      await noHorizontalScroll(page);
      await snap(page, `scorecard-${name}`);
    }
  });

  test('every room shows the compact scorecard, and a distributor sees its resellers', async ({ page }) => {
    await page.setViewportSize(PHONE);
    await signIn(page, 'admin@contoso.test');
    await expect(page.getByRole('link', { name: /12-month revenue/ })).toContainText('12-month revenue');
    await page.getByRole('link', { name: /12-month revenue/ }).click();
    await expect(page).toHaveURL(/\/scorecard$/);
    const resellers = page.getByTestId('resellers');
    await expect(resellers).toContainText('Fabrikam IT');
    await resellers.getByRole('link', { name: 'Fabrikam IT' }).click();
    await expect(page).toHaveURL(/\/partners\/\d+\/scorecard$/);
    await expect(page.getByText('Fabrikam IT').first()).toBeVisible();
    await noHorizontalScroll(page);
  });

  test('a distributor reads its resellers on a phone without broken words', async ({ page }) => {
    await page.setViewportSize(PHONE);
    await signIn(page, 'admin@contoso.test');
    await page.goto('/scorecard');
    const resellers = page.getByTestId('resellers');
    await expect(resellers).toContainText('Fabrikam IT');
    for (const width of [390, 320]) {
      await page.setViewportSize({ width, height: 740 });
      await noHorizontalScroll(page);
      // Tier names and amounts stay whole; the table scrolls inside its panel when it must.
      await wordsWhole(page, '[data-testid="resellers"]');
    }
  });
});

test.describe('the channel dashboard', () => {
  test('fits a phone: tables scroll inside their panels, words and figures stay whole', async ({ page }) => {
    await page.setViewportSize(DESKTOP);
    await signIn(page, 'cm@acme.test');
    await page.goto('/dashboard');
    await hydrated(page);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Channel dashboard');
    const byTier = page.getByTestId('revenue-by-tier');
    await expect(byTier).toContainText('Platinum');
    await expect(byTier).toContainText('250,000.00');
    await expect(page.getByTestId('approvals')).toContainText('Deal registration');
    // The largest group's bar is drawn at full width, under its figure.
    const platinumBar = await byTier.getByRole('row', { name: /Platinum/ }).locator('.bar span').boundingBox();
    expect(platinumBar?.width ?? 0).toBeGreaterThan(40);
    expect(platinumBar?.height ?? 0).toBeGreaterThan(0);
    // Revenue tables fit their panels, three across on a desktop and one on a phone, 320 px too.
    const scrolledSideways = () =>
      page.locator('.table-scroll:has([data-testid^="revenue-by-"])').evaluateAll((boxes) => boxes.filter((b) => b.scrollWidth > b.clientWidth).length);
    await noHorizontalScroll(page);
    await wordsWhole(page, 'main table');
    expect(await scrolledSideways()).toBe(0);
    await snap(page, 'dashboard-1280');
    for (const width of [390, 320]) {
      await page.setViewportSize({ width, height: 740 });
      await noHorizontalScroll(page);
      await wordsWhole(page, 'main table');
      expect(await scrolledSideways()).toBe(0);
      await snap(page, `dashboard-${width}`);
    }
  });
});
