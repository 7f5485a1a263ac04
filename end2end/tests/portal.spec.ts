import { expect, test } from '@playwright/test';
import { DESKTOP, hydrated, noHorizontalScroll, PHONE, signIn, snap, tabLabelsWhole } from './helpers';

test.describe('a partner on a phone', () => {
  test.use({ viewport: PHONE });

  test('lands in their room, sees what is targeted at them, opens an item and switches rooms', async ({ page }) => {
    await page.goto('/login');
    await snap(page, 'login-390');
    await signIn(page, 'sales@northwind.test');

    await expect(page).toHaveURL(/\/rooms\/sales$/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sales room');
    const cards = page.locator('.cards .card');
    await expect(cards.getByRole('link', { name: 'Selling Acme SD-WAN to mid-market retail' })).toBeVisible();
    await expect(cards.getByRole('link', { name: 'Q4 2026 partner price list' })).toBeVisible();
    await expect(cards).toHaveCount(6);
    await expect(page.getByText('2027 pricing preview')).toHaveCount(0); // a draft
    await expect(page.getByText('Strategic accounts: the Platinum co-selling play')).toHaveCount(0); // Platinum only
    await noHorizontalScroll(page);
    await tabLabelsWhole(page);
    await snap(page, 'room-sales-390');
    // The narrowest phones still in use are 320 px wide.
    await page.setViewportSize({ width: 320, height: 640 });
    await noHorizontalScroll(page);
    await tabLabelsWhole(page);
    await snap(page, 'room-sales-320');
    await page.setViewportSize(PHONE);

    await cards.getByRole('link', { name: 'Selling Acme SD-WAN to mid-market retail' }).click();
    await expect(page).toHaveURL(/\/items\/\d+$/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Selling Acme SD-WAN to mid-market retail');
    await expect(page.getByRole('heading', { name: 'Who to call' })).toBeVisible();
    await noHorizontalScroll(page);
    await snap(page, 'item-390');

    await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: 'Marketing' }).click();
    await expect(page).toHaveURL(/\/rooms\/marketing$/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Marketing room');
    await expect(page.locator('.cards').getByRole('link', { name: 'Retail networking spend outlook 2027' })).toBeVisible();
    await expect(page.getByText('Run a 30-day SD-WAN webinar campaign')).toHaveCount(0); // marketing persona only
  });

  test('filters the room as they type once the page has hydrated', async ({ page }) => {
    await signIn(page, 'sales@northwind.test');
    await hydrated(page);
    const url = page.url();
    await page.getByLabel('Filter this room').fill('globex');
    // Only the WASM can do this: no form was submitted and the address did not change.
    await expect(page.getByTestId('item-count')).toHaveText('Showing 1 of 6 items');
    await expect(page.locator('.cards .card')).toHaveCount(1);
    expect(page.url()).toBe(url);
    await page.getByLabel('Filter this room').fill('');
    await page.getByLabel('Kind').selectOption('playbook');
    await expect(page.locator('.cards .card')).toHaveCount(2);
  });
});

test.describe('a publisher on a desktop', () => {
  test.use({ viewport: DESKTOP });

  test('publishes an item for presales only, and only presales sees it', async ({ page, browser }) => {
    const title = `Presales briefing ${Date.now()}`;
    await signIn(page, 'publisher@acme.test');
    await expect(page).toHaveURL(/\/studio$/);
    await page.getByRole('link', { name: 'New item' }).click();
    await expect(page).toHaveURL(/\/studio\/new$/);
    await hydrated(page);
    await page.getByLabel('Title').fill(title);
    await page.getByLabel('Summary').fill('What to show in the first technical call.');
    await page.locator('#room').selectOption('presales');
    await page.locator('#kind').selectOption('playbook');
    await page.getByLabel('Body').fill('## Agenda\n\n1. Architecture\n2. Live demo');
    await page.getByRole('group', { name: 'Personas' }).getByLabel('Presales').check();
    await page.getByRole('button', { name: 'Save draft' }).click();
    await expect(page).toHaveURL(/\/studio\/\d+\?created=1$/);
    await expect(page.getByTestId('status')).toHaveText('Draft');
    await snap(page, 'studio-editor-1280');
    await page.getByRole('button', { name: 'Publish' }).click();
    await expect(page.getByTestId('status')).toHaveText('Published');
    const itemPath = new URL(await page.getByRole('link', { name: 'View as partners see it' }).getAttribute('href') ?? '', page.url()).pathname;

    const presales = await browser.newPage({ viewport: DESKTOP });
    await signIn(presales, 'presales@northwind.test');
    await expect(presales).toHaveURL(/\/rooms\/presales$/);
    await expect(presales.locator('.cards').getByRole('link', { name: title })).toBeVisible();
    await noHorizontalScroll(presales);
    await snap(presales, 'room-presales-1280');

    const sales = await browser.newPage({ viewport: PHONE });
    await signIn(sales, 'sales@northwind.test');
    await sales.goto('/rooms/presales');
    await expect(sales.getByRole('heading', { level: 1 })).toHaveText('Presales room');
    await expect(sales.getByText(title)).toHaveCount(0);
    await sales.goto(itemPath);
    await expect(sales.getByRole('heading', { level: 1 })).toHaveText('Not found');
  });
});

test.describe('every section on a phone', () => {
  // The top bar's section links are hidden below 900 px; the tab bar and the Me page between
  // them must lead everywhere the top bar does.
  for (const email of ['finance@acme.test', 'cm@acme.test', 'publisher@acme.test', 'admin@northwind.test']) {
    test(`${email} reaches every section of the top bar from the tab bar or Me`, async ({ page }) => {
      await page.setViewportSize(DESKTOP);
      await signIn(page, email);
      // The top bar renders once the user is known: wait for its links before reading them.
      const hrefs = async (nav: string) => {
        await expect(page.locator(`${nav} a`).first()).toBeAttached();
        return page.locator(`${nav} a`).evaluateAll((links) => links.map((a) => new URL((a as HTMLAnchorElement).href).pathname));
      };
      const topBar = await hrefs('nav.room-nav');
      expect(topBar.length).toBeGreaterThan(4);

      await page.setViewportSize(PHONE);
      await expect(page.locator('nav.room-nav')).toBeHidden();
      const tabs = await hrefs('nav.tabbar');
      await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: 'Me' }).click();
      await expect(page).toHaveURL(/\/me$/);
      const sections = page.getByRole('navigation', { name: 'Your sections' });
      const onMe = await hrefs('nav[aria-label="Your sections"]');
      expect(topBar.filter((href) => !tabs.includes(href) && !onMe.includes(href))).toEqual([]);
      // Nothing is listed twice: the Me page holds only what the tab bar has no room for.
      expect(onMe.filter((href) => tabs.includes(href))).toEqual([]);
      await noHorizontalScroll(page);
      await snap(page, `me-${email.split('@')[0]}-390`);

      // And the links lead there.
      const last = sections.getByRole('link').last();
      const target = new URL((await last.getAttribute('href')) ?? '', page.url()).pathname;
      await last.click();
      await expect(page).toHaveURL(new RegExp(`${target}$`));
      await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    });
  }
});
