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
    // Other tests may have imported sales for Northwind: read today's revenue from the bar and
    // check that the bar, its text and the remaining amount agree.
    const bar = page.getByRole('progressbar', { name: 'Revenue, trailing 12 months' });
    const status = (await bar.getAttribute('aria-valuetext')) ?? '';
    const match = status.match(/^([\d,]+\.\d\d) \/ 1,000,000\.00 — ([\d,]+\.\d\d) to go$/);
    expect(match, status).not.toBeNull();
    const revenue = Number(match![1].replace(/,/g, ''));
    const remaining = Number(match![2].replace(/,/g, ''));
    expect(revenue).toBeGreaterThanOrEqual(262_500);
    expect(revenue + remaining).toBeCloseTo(1_000_000, 2);
    await expect(bar).toHaveAttribute('aria-valuenow', String(Math.floor((revenue * 100) / 1_000_000)));
    await expect(page.getByText(status)).toBeVisible();
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
