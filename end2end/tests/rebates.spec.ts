import { expect, test } from '@playwright/test';
import { createHash } from 'crypto';
import { DESKTOP, hydrated, noHorizontalScroll, PHONE, signIn, snap } from './helpers';

test('finance imports sales, runs a period and approves; the partner reads the statement', async ({ page, browser }) => {
  await page.setViewportSize(DESKTOP);
  await signIn(page, 'finance@acme.test');
  await page.goto('/rebates');
  await hydrated(page);

  // A file with a bad row is refused whole, with the row named.
  const header = 'external_id,partner_id,booked_on,product_line,amount,currency\n';
  await page.getByLabel('CSV with a header row, or JSON lines').fill(`${header}E2E-BAD,2,2026-02-30,cloud,10.00,USD\n`);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(page.getByTestId('import-result')).toContainText('Row 1 (line 2), booked_on');
  // A file wrong on every row lists its first 200 errors and says how many there are.
  const badRows = Array.from({ length: 250 }, (_, i) => `E2E-BAD-${i},2,2026-06-01,cloud,ten,USD\n`).join('');
  await page.getByLabel('CSV with a header row, or JSON lines').fill(`${header}${badRows}`);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(page.getByTestId('import-result')).toContainText('Showing the first 200 of 250 errors.');
  await expect(page.getByTestId('import-result').locator('li')).toHaveCount(200);
  await expect(page.getByTestId('import-result').locator('li').last()).toContainText('Row 200 (line 201), amount');

  // A file saved in a legacy encoding is refused in the browser, naming its line.
  const latin1 = Buffer.concat([Buffer.from(`${header}E2E-L,2,2026-06-01,caf`), Buffer.from([0xe9]), Buffer.from(',1.00,USD\n')]);
  await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'legacy.csv', mimeType: 'text/csv', buffer: latin1 });
  await expect(page.locator('#import-file-error')).toContainText('legacy.csv: line 2 is not UTF-8 text');
  await expect(page.getByLabel('File', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('CSV with a header row, or JSON lines')).toHaveValue('');

  const file = `${header}E2E-1,2,2026-06-01,cloud,40000.00,USD\n`;
  // Choosing a file fills the form in the browser.
  await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'sales.csv', mimeType: 'text/csv', buffer: Buffer.from(file) });
  await expect(page.getByLabel('CSV with a header row, or JSON lines')).toHaveValue(file);
  await page.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('import-result')).toContainText('1 row: 1 new, 0 updated, 0 unchanged (preview: nothing stored)');
  // The preview shows the row as it would be stored, and the file's totals.
  const preview = page.getByTestId('import-preview');
  await expect(preview.getByRole('cell', { name: 'E2E-1' })).toBeVisible();
  await expect(preview.getByRole('table')).toContainText('40,000.00 USD');
  await expect(preview.locator('dl')).toContainText('40,000.00 USD');
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(page.getByTestId('import-result')).toHaveText('1 row: 1 new, 0 updated, 0 unchanged.');
  await expect(page.getByTestId('import-preview')).toHaveCount(0);
  // A file saved with CRLF line ends, as spreadsheets on Windows save it, is imported byte for
  // byte: the audit log's sha256 is the file's own, as `sha256sum` gives it. (A sale of an old
  // year, which no other check counts.)
  const crlf = `${header.trimEnd()}\r\nE2E-CRLF,2,2025-03-01,cloud,1.00,USD\r\n`;
  await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'windows.csv', mimeType: 'text/csv', buffer: Buffer.from(crlf) });
  await expect(page.getByLabel('CSV with a header row, or JSON lines')).toHaveValue(crlf.replaceAll('\r\n', '\n'));
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(page.getByTestId('import-result')).toHaveText('1 row: 1 new, 0 updated, 0 unchanged.');
  const imports = JSON.stringify(await (await page.request.get('/api/v1/audit?action=sales.import')).json());
  expect(imports).toContain(createHash('sha256').update(crlf).digest('hex'));

  await page.getByLabel('Fiscal period').fill('2026-Q2');
  await page.getByRole('button', { name: 'Run rebates' }).click();
  await expect(page.getByTestId('run-result')).toContainText('2026-Q2:');
  await page.goto('/rebates?period=2026-Q2');
  const northwind = page.locator('.statement', { has: page.getByRole('heading', { name: 'Northwind Systems' }) });
  // The cloud line holds E2E-1 (the drill-down shows it), beside whatever demo sales fall in
  // the quarter: the demo books its sales some days before today, so they move as days pass.
  await expect(northwind).toContainText(/cloud [\d,]+\.\d\d × \d+ bp/);
  // Finance reads the sales behind the draft and approves it there.
  await northwind.getByRole('link', { name: 'See the sales behind it' }).click();
  await expect(page).toHaveURL(/\/rebates\/\d+$/);
  await expect(page.getByRole('cell', { name: 'E2E-1' })).toBeVisible();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Northwind Systems · 2026-Q2 rebate statement');
  await hydrated(page);
  // Approving locks the statement for good: the figure is confirmed first, and Cancel backs out.
  await page.getByRole('button', { name: 'Approve Northwind Systems 2026-Q2' }).click();
  await expect(page.locator('.statement')).toContainText(/Approve [\d,]+\.\d\d USD for Northwind Systems 2026-Q2\? An approved statement never changes\./);
  await page.getByRole('link', { name: 'Cancel' }).click();
  await expect(page.locator('.statement .status')).toHaveText('draft');
  await page.getByRole('button', { name: 'Approve Northwind Systems 2026-Q2' }).click();
  await page.getByRole('button', { name: 'Yes, approve Northwind Systems 2026-Q2' }).click();
  await expect(page.getByTestId('advance-result')).toHaveText('Northwind Systems 2026-Q2 is approved.');
  await expect(page.getByRole('button', { name: 'Mark paid' })).toBeVisible();
  await expect(page.locator('.statement .status')).toHaveText('approved');
  await page.goto('/rebates?period=2026-Q2');
  await hydrated(page);
  const pay = northwind.getByRole('button', { name: 'Mark paid: Northwind Systems 2026-Q2' });
  await expect(pay).toBeVisible();
  // A reference the payout system could misread is refused, and the page says why.
  const reference = northwind.getByLabel('Payout reference for Northwind Systems 2026-Q2');
  await reference.fill('PAY-\u202e-0001');
  await pay.click();
  await expect(page.getByTestId('advance-result').getByRole('alert')).toContainText('payout_reference');
  await expect(northwind.locator('.status')).toHaveText('approved');
  await snap(page, 'rebates-finance-1280');
  await reference.fill('PAY-2026-Q2-0001');
  await pay.click();
  await expect(page.getByTestId('advance-result')).toHaveText('Northwind Systems 2026-Q2 is marked paid.');
  await expect(northwind.locator('.status')).toHaveText('paid');
  await expect(northwind).toContainText('Paid: PAY-2026-Q2-0001');
  // Finance sees who approved and paid, and when.
  await expect(northwind.getByTestId('statement-approved')).toContainText(/^Approved \d+ \w+ \d{4}, \d\d:\d\d UTC by finance@acme\.test$/);
  await expect(northwind.getByTestId('statement-paid')).toContainText(/, recorded \d+ \w+ \d{4}, \d\d:\d\d UTC by finance@acme\.test$/);

  // The partner filter narrows the list, and the count says so.
  await page.getByLabel('Partner', { exact: true }).fill('NORTH');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/partner=NORTH/);
  await expect(page.getByTestId('statements-count')).toHaveText('1 statement');
  await expect(page.locator('.statement h2')).toHaveText(['Northwind Systems · 2026-Q2']);

  // Before the page's WebAssembly has loaded (here: never, its request is refused) a draft is
  // approved too: Approve opens the question at an address of its own, and the answer is a
  // plain form.
  const plain = await browser.newContext({
    viewport: DESKTOP,
    storageState: await page.context().storageState(),
  });
  await plain.route('**/*.wasm', (route) => route.abort());
  const noScript = await plain.newPage();
  await noScript.goto('/rebates?period=2026-Q2&status=draft');
  const firstDraft = noScript.locator('.statement').first();
  const draftName = (await firstDraft.locator('h2').innerText()).split(' · ')[0].trim();
  await firstDraft.getByRole('button', { name: `Approve ${draftName} 2026-Q2` }).click();
  await expect(noScript).toHaveURL(/[?&]confirm=\d+/);
  await expect(noScript.locator('.statement').first()).toContainText(`for ${draftName} 2026-Q2? An approved statement never changes.`);
  await noScript.getByRole('button', { name: `Yes, approve ${draftName} 2026-Q2` }).click();
  // Back on the list, which says what was done: the question is gone from the address.
  await expect(noScript).toHaveURL(/\/rebates\?period=2026-Q2&status=draft&done=approved-\d+$/);
  await expect(noScript.getByTestId('done-result')).toHaveText(`${draftName} 2026-Q2 is approved.`);
  await noScript.goto(`/rebates?period=2026-Q2&status=approved&partner=${encodeURIComponent(draftName)}`);
  await expect(noScript.locator('.statement', { has: noScript.getByRole('heading', { name: `${draftName} · 2026-Q2`, exact: true }) }).locator('.status')).toHaveText('approved');
  await plain.close();

  // The rest of the period's drafts are approved together, after a confirmation that names
  // their count and total.
  await page.goto('/rebates?period=2026-Q2&status=draft');
  await hydrated(page);
  const panel = page.getByTestId('period-approval');
  await expect(page.getByTestId('statements-count')).toBeVisible();
  const drafts = page.locator('.statement');
  const count = await drafts.count();
  expect(count).toBeGreaterThan(0);
  await expect(page.getByTestId('statements-count')).toHaveText(`${count} statement${count === 1 ? '' : 's'}`);
  const plural = count === 1 ? '' : 's';
  await expect(panel.getByRole('heading')).toHaveText('Drafts of 2026-Q2');
  await expect(panel).toContainText(new RegExp(`${count} draft${plural} totalling [\\d,]+\\.\\d\\d USD\\.`));
  await panel.getByRole('button', { name: count === 1 ? 'Approve the draft…' : `Approve all ${count} drafts…` }).click();
  await expect(panel).toContainText(`Approve ${count} statement${plural} of 2026-Q2 totalling`);
  await snap(page, 'rebates-approve-period-1280');
  // The filters and the confirmation fit a phone.
  await page.setViewportSize(PHONE);
  await noHorizontalScroll(page);
  await snap(page, 'rebates-approve-period-390');
  await page.setViewportSize(DESKTOP);
  await panel.getByRole('button', { name: `Yes, approve ${count} statement${plural}` }).click();
  await expect(page.getByTestId('advance-result')).toHaveText(new RegExp(`^Approved ${count} statement${plural} of 2026-Q2 totalling [\\d,]+\\.\\d\\d USD\\.$`));
  await expect(panel).toHaveCount(0);
  await expect(page.getByText('No statements match these filters.')).toBeVisible();
  await page.goto('/rebates?period=2026-Q2');
  // A sale that arrives after the approval stays out of the approved statement's basis.
  await page.getByLabel('CSV with a header row, or JSON lines').fill(`${header}E2E-LATE,2,2026-06-20,cloud,500.00,USD\n`);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(page.getByTestId('import-result')).toHaveText('1 row: 1 new, 0 updated, 0 unchanged.');

  const partner = await browser.newPage({ viewport: PHONE });
  await signIn(partner, 'admin@northwind.test');
  await partner.goto('/rebates');
  await expect(partner.getByRole('heading', { level: 1 })).toHaveText('Your rebate statements');
  const own = partner.locator('.statement', { hasText: '2026-Q2' });
  await expect(own).toContainText('paid');
  await expect(own).toContainText('Paid: PAY-2026-Q2-0001');
  // A partner sees when, not which of the vendor's people.
  await expect(own.getByTestId('statement-approved')).toContainText(/^Approved \d+ \w+ \d{4}, \d\d:\d\d UTC$/);
  await expect(own.getByTestId('statement-paid')).not.toContainText('@');
  await expect(own).toContainText(/cloud [\d,]+\.\d\d × \d+ bp/);
  await expect(partner.getByText('Contoso Distribution')).toHaveCount(0);
  await expect(partner.getByTestId('forecast-total')).toBeVisible();
  // The forecast is explained line by line, as a statement is.
  await expect(partner.getByTestId('forecast-lines').locator('tr').first()).toContainText(/\d\.\d\d/);
  await own.getByRole('link', { name: 'See the sales behind it' }).click();
  await expect(partner).toHaveURL(/\/rebates\/\d+$/);
  await expect(partner.getByRole('cell', { name: 'E2E-1' })).toBeVisible();
  const late = partner.getByRole('row', { name: /E2E-LATE/ });
  await expect(late).toContainText('No: arrived later');
  await expect(partner.getByTestId('late-sales')).toContainText('a restatement line on the partner\'s next statement carries the difference');
  // How many sales there are and how many count, and every one of them as CSV.
  await expect(partner.getByTestId('basis-summary')).toHaveText(/^[\d,]+ sales?, [\d,]+ in the basis of [\d,]+\.\d\d USD\. Download all as CSV$/);
  const href = await partner.getByRole('link', { name: 'Download all as CSV' }).getAttribute('href');
  expect(href).toMatch(/^\/api\/v1\/rebates\/statements\/\d+\/sales\.csv$/);
  const exported = await partner.request.get(href!);
  expect(exported.status()).toBe(200);
  const rows = (await exported.text()).trim().split('\n');
  expect(rows[0]).toBe('external_id,booked_on,product_line,amount,in_basis');
  expect(rows).toContain('E2E-1,2026-06-01,cloud,40000.00,Yes');
  expect(rows).toContain('E2E-LATE,2026-06-20,cloud,500.00,No: arrived later');
  await noHorizontalScroll(partner);
  await snap(partner, 'rebates-partner-390');
  // A reseller reads only its own statements: no partner filter. A distributor's admin filters
  // its resellers' by name.
  await expect(partner.getByLabel('Partner', { exact: true })).toHaveCount(0);
  const distributor = await browser.newPage({ viewport: PHONE });
  await signIn(distributor, 'admin@contoso.test');
  await distributor.goto('/rebates?period=2026-Q2');
  await distributor.getByLabel('Partner', { exact: true }).fill('fabrikam');
  await distributor.getByRole('button', { name: 'Show' }).click();
  await expect(distributor).toHaveURL(/partner=fabrikam/);
  await expect(distributor.getByTestId('statements-count')).toHaveText('1 statement');
  await expect(distributor.locator('.statement h2')).toHaveText(['Fabrikam IT · 2026-Q2']);
  await distributor.close();

  // The period still running can be run for drafts, which say when they can be approved and
  // offer no Approve button until then.
  await partner.goto('/rebates');
  const current = ((await partner.locator('#forecast').textContent()) ?? '').replace('This period so far:', '').trim();
  expect(current).toMatch(/^\d{4}-Q[1-4]$/);
  await page.getByLabel('Fiscal period').fill(current);
  await page.getByRole('button', { name: 'Run rebates' }).click();
  await expect(page.getByTestId('run-result')).toContainText(`${current}:`);
  await page.goto(`/rebates?period=${current}`);
  await hydrated(page);
  const running = page.locator('.statement', { has: page.getByRole('heading', { name: 'Northwind Systems' }) });
  await expect(running).toContainText(/this draft can be approved from \d{1,2} [A-Z][a-z]{2} \d{4}\./);
  await expect(running.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  await snap(page, 'rebates-running-1280');
});
