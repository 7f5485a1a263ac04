import { expect, Page } from '@playwright/test';

export const PASSWORD = 'atrium-demo-2026';
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };

/** Waits until the WASM has taken over the server-rendered page. */
export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/** Signs in through the form and waits for the home page of the user. */
export async function signIn(page: Page, email: string) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/(rooms\/[a-z-]+|studio|rebates)$/);
}

/** Saves a screenshot as a test artefact under end2end/artifacts/. */
export async function snap(page: Page, name: string) {
  await page.screenshot({ path: `artifacts/${name}.png`, fullPage: true });
}

/** Fails if the page scrolls sideways (phones must never). */
export async function noHorizontalScroll(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

/**
 * Fails if a word inside `selector` breaks across lines ("Marketin" / "g", "250,000." / "00").
 * Text may wrap between words and after a hyphen ("Post-" / "sales"), never inside a word: a
 * word broken across lines has line boxes at more than one height.
 */
export async function wordsWhole(page: Page, selector: string) {
  const broken = await page.evaluate((selector) => {
    const found: string[] = [];
    for (const root of document.querySelectorAll(selector)) {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let text = walker.nextNode(); text; text = walker.nextNode()) {
        const content = text.textContent ?? '';
        for (const match of content.matchAll(/[^\s-]+/g)) {
          const range = document.createRange();
          range.setStart(text, match.index ?? 0);
          range.setEnd(text, (match.index ?? 0) + match[0].length);
          const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
          if (lines.size > 1) found.push(match[0]);
        }
      }
    }
    return found;
  }, selector);
  expect(broken, `words broken inside ${selector}`).toEqual([]);
}

/** Fails if a label of the phone tab bar breaks inside a word, or the bar is wider than the screen. */
export async function tabLabelsWhole(page: Page) {
  await wordsWhole(page, 'nav.tabbar');
  const bar = page.getByRole('navigation', { name: 'Rooms' });
  const overflow = await bar.evaluate((nav) => nav.scrollWidth - nav.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}
