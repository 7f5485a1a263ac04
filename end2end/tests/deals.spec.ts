import { expect, test } from '@playwright/test';
import { DESKTOP, hydrated, noHorizontalScroll, PHONE, signIn, snap, wordsWhole } from './helpers';

test.describe('deal registration', () => {
  test('a partner registers on a phone, the channel manager approves from the queue', async ({ browser }) => {
    const partnerContext = await browser.newContext({ viewport: PHONE });
    const page = await partnerContext.newPage();
    await signIn(page, 'sales@northwind.test');
    await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: 'Deals' }).click();
    await expect(page).toHaveURL(/\/deals$/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('My deals');
    await page.getByRole('link', { name: 'Register a deal' }).click();
    await expect(page).toHaveURL(/\/deals\/new$/);
    await hydrated(page);

    const n = Date.now();
    const customer = `Stark Industries ${n}`;
    await page.getByLabel('Customer', { exact: true }).fill(customer);
    await page.getByLabel(/Customer website/).fill(`https://www.Stark-${n}.co.uk/contact`);
    await expect(page.getByTestId('key-preview')).toContainText(`d:stark-${n}.co.uk`);
    await page.getByLabel('cloud', { exact: true }).check();
    await page.getByLabel(/Estimated amount/).fill('75000.00');
    await noHorizontalScroll(page);
    await snap(page, 'deal-form-390');
    await page.getByRole('button', { name: 'Register deal' }).click();

    await expect(page).toHaveURL(/\/deals\/\d+$/);
    await expect(page.getByTestId('deal-status-line')).toHaveText('submitted');
    await expect(page.getByTestId('deal-clock')).toContainText(/decision due in (47 h|2 d)/);
    await noHorizontalScroll(page);
    await snap(page, 'deal-submitted-390');
    const dealPath = new URL(page.url()).pathname;

    // A bad amount is refused with the field named, and nothing is registered.
    await page.goto('/deals/new');
    await hydrated(page);
    await page.getByLabel('Customer', { exact: true }).fill(`Wayne Enterprises ${n}`);
    await page.getByLabel('hardware', { exact: true }).check();
    await page.getByLabel(/Estimated amount/).fill('a lot');
    await page.getByRole('button', { name: 'Register deal' }).click();
    await expect(page.getByRole('alert')).toContainText('amount');
    await expect(page).toHaveURL(/\/deals\/new$/);

    const cmContext = await browser.newContext({ viewport: DESKTOP });
    const cm = await cmContext.newPage();
    await signIn(cm, 'cm@acme.test');
    await expect(cm.getByTestId('bell')).toHaveAttribute('aria-label', /Notifications, \d+ unread/);
    await cm.goto('/deals');
    await hydrated(cm);
    const item = cm.getByTestId('queue-item').filter({ hasText: customer });
    await expect(item.getByTestId('queue-clock')).toContainText(/decision due in (47 h|2 d)/);
    await snap(cm, 'deal-queue-1280');
    await item.getByRole('button', { name: 'Approve' }).click();
    await expect(cm.getByText(new RegExp(`${customer}: approved, protected until`))).toBeVisible();
    await expect(cm.getByTestId('queue-item').filter({ hasText: customer })).toHaveCount(0);
    await expect(cm.getByTestId('turnaround')).toContainText('Deal registration');

    await page.goto(dealPath);
    await expect(page.getByTestId('deal-status-line')).toHaveText(/^approved, protected until \d{1,2} \w{3} \d{4}$/);
    await expect(page.getByTestId('bell')).toHaveAttribute('aria-label', /Notifications, \d+ unread/);
    await noHorizontalScroll(page);
    await snap(page, 'deal-approved-390');
    await page.goto('/deals');
    await expect(page.getByTestId('deal-card').filter({ hasText: customer }).getByTestId('deal-status-line')).toContainText(
      'approved, protected until',
    );
    await partnerContext.close();
    await cmContext.close();
  });

  test('the channel manager sees a conflicting registration side by side', async ({ page }) => {
    await page.setViewportSize(DESKTOP);
    await signIn(page, 'cm@acme.test');
    await page.goto('/deals');
    const fabrikam = page
      .getByTestId('queue-item')
      .filter({ has: page.getByRole('heading', { name: 'Globex Corp.', exact: true }) });
    await expect(fabrikam.getByRole('region', { name: /Conflicting registration/ })).toContainText('Northwind Systems');
    await expect(fabrikam.getByTestId('suggestion')).toContainText('Reject: Northwind Systems registered this customer first');
    await page.setViewportSize(PHONE);
    await noHorizontalScroll(page);
    await snap(page, 'deal-queue-390');
    // The narrowest phones: chips, figures and the turnaround table keep their words whole.
    await page.setViewportSize({ width: 320, height: 640 });
    await noHorizontalScroll(page);
    await wordsWhole(page, '.queue .chip');
    await wordsWhole(page, '[data-testid="turnaround"]');
    await snap(page, 'deal-queue-320');
  });
});
