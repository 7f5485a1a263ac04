import { expect, test } from '@playwright/test';
import { DESKTOP, hydrated, signIn, snap } from './helpers';

test.use({ viewport: DESKTOP });

test('a vendor admin edits the program with live validation and saves a new version', async ({ page }) => {
  await signIn(page, 'admin@acme.test');
  await page.goto('/studio/program');
  await hydrated(page);
  const status = page.getByTestId('program-status');
  await expect(status).toContainText('✓ Valid. Acme Partner Program: 4 tiers, 3 rebate plans');
  const editor = page.getByLabel('Program (TOML)');
  const original = await editor.inputValue();
  await editor.fill(original.replace('threshold = "250000.00"', 'threshold = "0.00"'));
  await expect(status).toHaveText('✗ tiers[2].criteria[0].threshold: must be > 0');
  await editor.fill(original.replace('threshold = "250000.00"', 'threshold = "300000.00"'));
  await expect(status).toContainText('✓ Valid.');
  // A random future date, so that reruns against the same database do not collide.
  const days = 40 + Math.floor(Math.random() * 3000);
  const next = new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  await page.getByLabel('Applies from').fill(next);
  await page.getByRole('button', { name: 'Save as a new version' }).click();
  await expect(page.getByRole('status')).toContainText('applies from');
  await expect(page.getByRole('cell', { name: 'Scheduled' }).first()).toBeVisible();
  await snap(page, 'program-editor-1280');
});
