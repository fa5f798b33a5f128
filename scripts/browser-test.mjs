// Drives the dashboard in headless Chromium; see scripts/browser-test.sh.
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const require = createRequire(import.meta.url);
const { chromium } = require(join(process.env.NODE_PATH, 'playwright-core'));

const BASE = process.env.BASE;
const SHOTS = process.env.SHOTS;
const profile = mkdtempSync(join(tmpdir(), 'gh-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1200, height: 800 },
});
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
const page = context.pages()[0] ?? await context.newPage();
const errors = [];
page.on('pageerror', e => errors.push(`pageerror: ${e.message}`));
// Failed fetches (401 while signed out, the deliberate 422) are logged by Chromium itself.
page.on('console', m => {
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`);
});
const shot = async name => {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  console.log(`screenshot ${name}.png`);
};
const step = msg => console.log(`- ${msg}`);
const expect = async (cond, msg) => { if (!(await cond)) throw new Error(`expected: ${msg}`); };

try {
  // A signed-out visit to a protected page lands on /login with next=.
  await page.goto(`${BASE}/orgs`);
  await page.waitForURL(/\/login\?next=%2Forgs/);
  step('signed-out /orgs redirects to /login?next=/orgs');
  await shot('01-login');

  await page.goto(`${BASE}/signup`);
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Password').fill('short');
  await shot('02-signup');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').waitFor();
  step(`weak password shows the problem in words: ${(await page.getByRole('alert').innerText()).replace(/\s+/g, ' ')}`);
  await shot('03-signup-error');
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${BASE}/orgs`);
  await page.getByRole('heading', { name: 'Create an organization' }).waitFor();
  step('signed up, on /orgs');
  await shot('04-orgs-empty');

  await page.getByLabel('Name', { exact: true }).fill('Acme Corp');
  await page.getByLabel(/^Description/).fill('Tools for coyotes');
  await page.getByRole('button', { name: 'Create organization' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/general`);
  await page.getByRole('button', { name: 'Save' }).waitFor();
  await expect(page.getByLabel('Slug').evaluate(e => e.readOnly), 'slug is read-only');
  step('org created, general settings shown');
  await page.getByLabel('Description').fill('Tools for coyotes, since 1949');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  step('general settings saved');
  await shot('05-general');

  await page.getByRole('link', { name: 'API keys' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/api-keys`);
  await page.getByLabel('Name').fill('CI pipeline');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByText('you will not see it again').waitFor();
  const secret = await page.locator('#new-key-secret').innerText();
  await expect(secret.length > 20, 'a full key is shown');
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.getByRole('button', { name: 'Copied' }).waitFor();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  await expect(clip === secret, 'the clipboard holds the key');
  step(`key created and copied (${secret.slice(0, 8)}…)`);
  await shot('06-api-key-created');
  await page.getByRole('button', { name: 'Done' }).click();
  await expect((await page.locator('#new-key-secret').count()) === 0, 'the key is gone after Done');

  await page.getByRole('button', { name: 'Revoke' }).click();
  await shot('07-api-key-revoke-confirm');
  await page.getByRole('button', { name: 'Yes, revoke' }).click();
  await page.locator('.badge.revoked').waitFor();
  step('key revoked after confirmation');
  await shot('08-api-keys-revoked');

  // The header's org switcher and user menu.
  await page.locator('.user-menu summary').click();
  await shot('09-user-menu');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE}/login`);
  step('signed out');

  // ?next= brings the user back with a full page load; foreign targets are ignored.
  await page.goto(`${BASE}/login?next=${encodeURIComponent('/orgs/acme-corp/settings/api-keys?x=1')}`);
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/api-keys?x=1`);
  step('login honours ?next=');
  await page.locator('.user-menu summary').click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE}/login`);
  await page.goto(`${BASE}/login?next=${encodeURIComponent('//evil.example/')}`);
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/orgs`);
  step('login ignores a next= that leaves the site');

  if (errors.length) throw new Error(`browser errors:\n${errors.join('\n')}`);
  console.log('browser test passed');
} catch (e) {
  await shot('zz-failure').catch(() => {});
  console.error(errors.join('\n'));
  console.error(e);
  process.exitCode = 1;
} finally {
  await context.close();
}
