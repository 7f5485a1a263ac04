import { expect, test } from '@playwright/test';
import { DESKTOP, hydrated, noHorizontalScroll, PHONE, signIn, snap } from './helpers';

test.describe('a partner admin checks their tier', () => {
  test('sees progress to the next tier and answers what-if questions without the network', async ({ page }) => {
    await page.setViewportSize(PHONE);
    await signIn(page, 'admin@northwind.test');
    await page.getByRole('link', { name: 'Your tier: see your progress' }).click();
    await expect(page).toHaveURL(/\/tier$/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('My tier');
    await expect(page.getByRole('heading', { name: 'Next: Platinum' })).toBeVisible();
    await expect(page.getByRole('progressbar', { name: 'Revenue, trailing 12 months' })).toHaveAttribute('aria-valuenow', '26');
    await expect(page.getByText('262,500.00 / 1,000,000.00 — 737,500.00 to go')).toBeVisible();
    await hydrated(page);
    await expect(page.getByTestId('what-if-result')).toHaveText('You would qualify for Gold.');
    await noHorizontalScroll(page);
    await snap(page, 'tier-390');

    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.getByLabel(/Extra revenue/).fill('750000.00');
    await page.getByLabel('Extra won deals').fill('5');
    await expect(page.getByTestId('what-if-result')).toHaveText('You would qualify for Gold.');
    await page.getByLabel('Extra certified people').fill('2');
    await expect(page.getByTestId('what-if-result')).toHaveText('You would qualify for Platinum.');
    await page.getByLabel(/Extra revenue/).fill('twelve');
    await expect(page.getByTestId('what-if-result')).toContainText('Extra revenue');
    expect(requests).toEqual([]);

    await page.setViewportSize(DESKTOP);
    await snap(page, 'tier-1280');
  });
});
