import { test } from '@playwright/test';
import { PHONE, DESKTOP, signIn } from '../tests/helpers';
test('debug', async ({ page }) => {
  await page.setViewportSize(DESKTOP);
  await signIn(page, 'admin@northwind.test');
  await page.goto('/rebates');
  await page.setViewportSize(PHONE);
  const wide = await page.evaluate(() => {
    const out: string[] = [];
    document.querySelectorAll('*').forEach((e) => { const r = e.getBoundingClientRect(); if (r.right > window.innerWidth + 1) out.push(`${e.tagName}.${e.className} ${Math.round(r.left)}-${Math.round(r.right)}`); });
    return out.slice(0, 15);
  });
  console.log(wide.join('\n'));
  await page.screenshot({ path: 'artifacts/dbg.png', fullPage: false });
});
