// Drives the dashboard in headless Chromium; see scripts/browser-test.sh.
// Two browser profiles: Ada (owner) and Bob (invited by email, accepts in his own browser).
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import http from 'node:http';
const require = createRequire(import.meta.url);
const { chromium } = require(join(process.env.NODE_PATH, 'playwright-core'));

const BASE = process.env.BASE;
const SHOTS = process.env.SHOTS;
const OUTBOX = process.env.OUTBOX;
// localhost always to 127.0.0.1 (the server listens there; the allowlist test reads it).
const ARGS = ['--host-resolver-rules=MAP localhost 127.0.0.1', '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PASSWORD = 'correct horse battery staple';

const errors = [];
// Every console error, failed requests included (Chromium logs a 4xx answer as
// "Failed to load resource"), for the pages that must not cause any.
const consoleErrors = [];
async function browser(name, viewport = { width: 1280, height: 860 }) {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), `gh-${name}-`)), {
    executablePath: '/usr/bin/chromium', headless: true, args: ARGS, viewport,
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', e => errors.push(`${name} pageerror: ${e.message}`));
  // Failed fetches (401 while signed out, deliberate 4xx) are logged by Chromium itself.
  page.on('console', m => {
    if (m.type() === 'error') consoleErrors.push(`${name}: ${m.text()} (${page.url()})`);
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`${name} console: ${m.text()}`);
  });
  return { context, page };
}
let n = 0;
const shot = async (page, name) => {
  const file = `${String(++n).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: join(SHOTS, file), fullPage: true });
  console.log(`  screenshot ${file}`);
};
// A TOTP code from Debian's oathtool (an independent implementation), for `secret`
// (base32) at `when` (an oathtool -N date, e.g. "now + 30 seconds").
const totp = (secret, when = 'now') =>
  execFileSync('oathtool', ['--totp', '-b', '-N', when, secret], { encoding: 'utf8' }).trim();
const step = msg => console.log(`- ${msg}`);
const check = (cond, msg) => { if (!cond) throw new Error(`expected: ${msg}`); };

// The newest mail to `to` in the file outbox, its body decoded (quoted-printable or base64).
function mailTo(to) {
  const files = readdirSync(OUTBOX).map(f => join(OUTBOX, f));
  const mails = files.map(f => readFileSync(f, 'utf8')).filter(m => new RegExp(`^To: .*${to}`, 'mi').test(m));
  check(mails.length > 0, `a mail to ${to} in the outbox`);
  const raw = mails[mails.length - 1].replace(/\r\n/g, '\n');
  const [head, ...rest] = raw.split('\n\n');
  let body = rest.join('\n\n');
  if (/Content-Transfer-Encoding: base64/i.test(head)) body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/Content-Transfer-Encoding: quoted-printable/i.test(head)) {
    body = body.replace(/=\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
  }
  return body;
}

const ada = await browser('ada');
let bob;
try {
  const page = ada.page;
  // --- signed out ---
  await page.goto(`${BASE}/orgs`);
  await page.waitForURL(/\/login\?next=%2Forgs/);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  // One document: /orgs checks the session, then routes to /login on the client.
  const [cold, form] = await page.evaluate(() => [performance.getEntriesByName('first-contentful-paint')[0]?.startTime, performance.now()]);
  console.log(`  empty cache: first contentful paint ${cold?.toFixed(0)} ms; sign-in form shown by ${form.toFixed(0)} ms`);
  step('signed-out /orgs redirects to /login?next=/orgs');
  // First meaningful paint: the page is empty HTML until the wasm app renders the form.
  await page.goto(`${BASE}/login`);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime);
  console.log(`  first contentful paint of /login (cache warm): ${fcp?.toFixed(0)} ms`);
  await shot(page, 'login');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByRole('button', { name: 'Send reset link' }).waitFor();
  await shot(page, 'forgot-password');
  await page.goto(`${BASE}/`);
  await page.waitForURL(/\/login\?next=%2Forgs/);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  // Signed out, the dashboard learns there is no session without asking for one (a
  // 401 from /api/v1/me would be logged as an error on every visit).
  check(consoleErrors.length === 0, `no console errors on the signed-out pages, got:\n  ${consoleErrors.join('\n  ')}`);
  step('signed out: sign-in, forgot-password and / without a console error');

  // --- sign up ---
  await page.goto(`${BASE}/signup`);
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').waitFor();
  step(`weak password shows the problem in words: ${(await page.getByRole('alert').innerText()).replace(/\s+/g, ' ')}`);
  await shot(page, 'signup-error');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${BASE}/orgs`);
  await page.getByRole('heading', { name: 'Create an organization' }).waitFor();
  step('signed up, on /orgs');
  await shot(page, 'orgs-empty');

  // --- create org, general settings ---
  await page.getByLabel('Name', { exact: true }).fill('Acme Corp');
  await page.getByLabel(/^Description/).fill('Tools for coyotes');
  await page.getByRole('button', { name: 'Create organization' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/general`);
  await page.getByRole('button', { name: 'Save' }).waitFor();
  check(await page.getByLabel('Slug').evaluate(e => e.readOnly), 'slug is read-only');
  check((await page.locator('.switcher select').inputValue()) === 'acme-corp', 'the switcher shows the new org');
  await page.getByLabel('Description').fill('Tools for coyotes, since 1949');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  step('org created; general settings saved');
  await shot(page, 'general');

  // --- API key: shown once, not after reload; revoke ---
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/api-keys`);
  await page.getByLabel('Name').fill('CI pipeline');
  check(await page.getByRole('checkbox', { name: /MCP endpoint/ }).isChecked(), 'mcp is the default scope');
  await page.getByRole('checkbox', { name: /Read REST API/ }).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByText('you will not see it again').waitFor();
  const secret = await page.locator('#new-key-secret').innerText();
  check(secret.length > 20, 'a full key is shown');
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.getByRole('button', { name: 'Copied' }).waitFor();
  check((await page.evaluate(() => navigator.clipboard.readText())) === secret, 'the clipboard holds the key');
  await shot(page, 'api-key-created');
  await page.reload();
  await page.getByRole('cell', { name: 'CI pipeline' }).waitFor();
  await page.getByRole('cell', { name: 'mcp, read' }).waitFor();
  check((await page.locator('#new-key-secret').count()) === 0, 'the key is not shown after a reload');
  check(!(await page.content()).includes(secret), 'the page no longer contains the key');
  step(`key created, copied, not shown again after reload (${secret.slice(0, 8)}…)`);
  await page.getByRole('button', { name: 'Revoke' }).click();
  await shot(page, 'api-key-revoke-confirm');
  await page.getByRole('button', { name: 'Yes, revoke' }).click();
  await page.locator('.badge.revoked').waitFor();
  step('key revoked after confirmation');
  await shot(page, 'api-keys-revoked');

  // --- invite Bob; the link arrives by email ---
  await page.getByRole('link', { name: 'Members' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/members`);
  await page.locator('#invite-email').fill('bob@example.com');
  await page.locator('#invite-role').selectOption('member');
  await page.getByRole('button', { name: 'Invite member' }).click();
  await page.getByText('Invitation sent to bob@example.com.').waitFor();
  await page.locator('.badge.pending').waitFor();
  await shot(page, 'members-invited');
  let link;
  for (let i = 0; i < 50 && !link; i++) {
    try { link = mailTo('bob@example.com').match(/https?:\/\/\S+\/invitations\/accept\?token=[A-Za-z0-9_\-.~%]+/)?.[0]; } catch { }
    if (!link) await new Promise(r => setTimeout(r, 100));
  }
  check(link && link.startsWith(BASE), `the invitation mail holds a link to ${BASE}`);
  step('invitation sent; link read from the mail');

  // --- Bob accepts in his own browser, creating his account ---
  bob = await browser('bob');
  await bob.page.goto(link);
  await bob.page.getByText('Acme Corp invited bob@example.com').waitFor();
  await bob.page.getByLabel('Your name').fill('Bob Builder');
  await bob.page.getByLabel('Choose a password').fill(PASSWORD);
  await shot(bob.page, 'accept-invitation');
  await bob.page.getByRole('button', { name: 'Create account and accept' }).click();
  await bob.page.waitForURL(`${BASE}/orgs/acme-corp/settings/general`);
  await bob.page.getByRole('link', { name: 'General' }).waitFor();
  check((await bob.page.getByRole('link', { name: 'API keys' }).count()) === 0, 'a member sees no admin settings');
  check(await bob.page.getByLabel('Name', { exact: true }).evaluate(e => e.readOnly || e.disabled), 'a member cannot edit the org');
  step('Bob accepted in a second browser; as a member he sees General only');
  await shot(bob.page, 'member-view');

  // --- Ada makes Bob an admin ---
  await page.reload();
  await page.getByLabel('Role for bob@example.com').selectOption('admin');
  await page.getByRole('button', { name: 'Save role for bob@example.com' }).click();
  await page.getByText('is now admin').waitFor();
  step('role changed to admin');
  await shot(page, 'members-role-changed');
  await bob.page.reload();
  await bob.page.getByRole('link', { name: 'Members' }).waitFor();
  step('Bob, reloaded, now sees the admin settings');

  // --- allowlist lock-out warning ---
  await page.getByRole('link', { name: 'Security' }).first().click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/security`);
  await page.getByText('Your current IP address: 127.0.0.1').waitFor();
  await page.getByRole('button', { name: 'Add range' }).click();
  await page.getByLabel('CIDR range 1').fill('10.0.0.0/8');
  await page.getByLabel('Label 1').fill('Office VPN');
  await page.getByText('does not include your current IP address').waitFor();
  check(await page.getByRole('button', { name: 'Save allowlist' }).isDisabled(), 'save waits for the lock-out confirmation');
  step('an allowlist without the caller\'s address warns and blocks saving');
  await shot(page, 'security-lockout-warning');
  await page.getByLabel('CIDR range 1').fill('127.0.0.0/8');
  await page.getByLabel('Label 1').fill('This machine');
  check((await page.getByText('does not include your current IP address').count()) === 0, 'the warning goes away');
  await page.getByRole('button', { name: 'Save allowlist' }).click();
  await page.getByText('Allowlist saved.').waitFor();
  step('allowlist that includes the caller saved');
  await shot(page, 'security-saved');

  // --- audit log shows and filters ---
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/audit-log`);
  for (const a of ['api_key.created', 'api_key.revoked', 'invitation.created', 'invitation.accepted', 'member.role_changed', 'org.ip_allowlist_updated']) {
    await page.locator('td code', { hasText: a }).first().waitFor();
  }
  step('the audit log lists key, invitation, role and allowlist events');
  await shot(page, 'audit-log');
  await page.getByLabel('Action').fill('api_key.');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => {
    const codes = [...document.querySelectorAll('tbody tr td:nth-child(3) code')].map(c => c.textContent.trim());
    return codes.length === 2 && codes.every(c => c.startsWith('api_key.'));
  });
  step('filtering by action "api_key." leaves the two key events');
  await shot(page, 'audit-log-filtered');
  const csv = await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href');
  const res = await page.request.get(`${BASE}${csv}`);
  check(res.ok() && (await res.text()).includes('api_key.revoked'), 'the CSV export holds the filtered events');
  step('CSV export link works with the filters');

  // --- connectors: add (its upstream is down: unhealthy), edit, delete ---
  await page.getByRole('link', { name: 'Connectors', exact: true }).click();
  await page.getByText('No connectors yet.').waitFor();
  await shot(page, 'connectors-empty');
  await page.getByLabel('Name', { exact: true }).fill('Docs');
  await page.getByLabel('Upstream URL').fill('http://127.0.0.1:9/mcp');
  await page.getByRole('button', { name: 'Add connector' }).click();
  await page.getByRole('cell', { name: /^Docs/ }).waitFor();
  for (let i = 0; i < 40 && !(await page.locator('.badge.unhealthy').count()); i++) {
    await page.getByRole('button', { name: 'Refresh health' }).click();
    await new Promise(r => setTimeout(r, 500));
  }
  await page.locator('.badge.unhealthy').waitFor();
  step('connector added; its unreachable upstream shows as unhealthy');
  await shot(page, 'connectors-unhealthy');
  await page.getByRole('button', { name: 'Edit Docs' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Docs v2');
  // Empty timeout fields show the server's defaults (mcp.idle_timeout_secs, mcp.call_timeout_secs).
  check(await page.getByLabel(/^Idle timeout/).getAttribute('placeholder') === '120', 'the idle timeout shows its default');
  check(await page.getByLabel(/^Overall timeout/).getAttribute('placeholder') === '900', 'the overall timeout shows its default');
  await page.getByLabel(/^Idle timeout/).fill('30');
  await page.getByLabel(/^Overall timeout/).fill('600');
  await page.getByRole('button', { name: 'Save connector' }).click();
  await page.getByRole('cell', { name: /^Docs v2/ }).waitFor();
  await page.getByRole('button', { name: 'Edit Docs v2' }).click();
  check(await page.getByLabel(/^Idle timeout/).inputValue() === '30', 'the idle timeout was saved');
  check(await page.getByLabel(/^Overall timeout/).inputValue() === '600', 'the overall timeout was saved');
  step('connector renamed and given its own timeouts');
  await shot(page, 'connectors-edit-timeouts');
  await page.getByRole('button', { name: 'Cancel editing' }).click();
  await page.getByRole('button', { name: 'Delete Docs v2' }).click();
  await page.getByRole('button', { name: 'Yes, delete' }).click();
  await page.getByText('No connectors yet.').waitFor();
  step('connector renamed, then deleted');

  // --- webhooks: a receiver on 127.0.0.1 gets the test send ---
  const received = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', c => { body += c; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise(r => receiver.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
  await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
  await page.getByRole('heading', { name: 'Webhooks', exact: true, level: 1 }).waitFor();
  await page.getByText('No webhooks yet.').waitFor();
  await page.getByLabel('Endpoint URL').fill(hookUrl);
  await page.getByLabel('All events').check();
  await page.getByRole('button', { name: 'Add webhook' }).click();
  const signing = await page.locator('#hook-signing-secret').innerText();
  check(signing.startsWith('whsec_'), 'the signing secret is shown once');
  await shot(page, 'webhooks-secrets');
  await page.getByRole('button', { name: 'Done' }).click();
  check((await page.getByText(signing).count()) === 0, 'the secret is not shown again');
  step('webhook added; its secrets shown once');
  await page.getByRole('button', { name: 'Send test' }).click();
  await page.getByText(/^Test delivered: the endpoint answered 200/).waitFor();
  check(received.length === 1 && received[0].headers['webhook-signature'].startsWith('v1,'), 'the receiver got a signed test');
  check(JSON.parse(received[0].body).event === 'test', 'the test event');
  await page.getByRole('button', { name: 'Delivery log' }).click();
  await page.locator('.badge.delivery-delivered').first().waitFor();
  await shot(page, 'webhooks-log');
  step('test sent; the delivery log shows it delivered');
  await page.getByLabel('keep the old signing secret for 24 hours').check();
  await page.getByRole('button', { name: 'Regenerate secrets' }).click();
  const renewed = await page.locator('#hook-signing-secret').innerText();
  check(renewed.startsWith('whsec_') && renewed !== signing, 'new secrets after regenerating');
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByText(/the previous secret works until/).waitFor();
  step('secrets regenerated, the old one kept for a day');
  await page.getByLabel(/^Per day/).fill('1000, 5000');
  await page.getByRole('button', { name: 'Save thresholds' }).click();
  await page.getByText('Saved.').waitFor();
  step('usage thresholds saved');
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('button', { name: 'Yes, delete' }).click();
  await page.getByText('No webhooks yet.').waitFor();
  receiver.close();
  step('webhook deleted');

  // --- the other pages, for the screenshots ---
  for (const [link, heading, name] of [['Usage', 'Usage', 'usage'],
    ['OAuth', 'OAuth', 'oauth'], ['Profile', 'Profile', 'account-profile'], ['Password', 'Password', 'account-password'],
    ['Sessions', 'Sessions', 'account-sessions']]) {
    await page.getByRole('link', { name: link, exact: true }).click();
    await page.getByRole('heading', { name: heading, exact: true, level: 1 }).waitFor();
    await page.locator('.loading').first().waitFor({ state: 'detached' }).catch(() => {});
    await shot(page, name);
  }
  check((await page.getByText('this device').count()) === 1, 'sessions mark this device');

  // /_admin/_settings lands on a settings page of the org in use.
  await page.goto(`${BASE}/_admin/_settings/_members`);
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/members`);
  await page.goto(`${BASE}/_admin/_settings`);
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/general`);
  step('/_admin/_settings[/_section] redirects to the org\'s settings');

  // Phone width: the sidebar folds behind a menu button.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('link', { name: 'Members' }).waitFor();
  await shot(page, 'phone-menu');
  await page.getByRole('link', { name: 'Members' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/members`);
  await shot(page, 'phone-members');
  await page.setViewportSize({ width: 1280, height: 860 });
  step('phone width: menu button opens the navigation');

  // --- sign out; ?next= round trip; foreign next ignored ---
  await page.locator('.user-menu summary').click();
  await shot(page, 'user-menu');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE}/login`);
  await page.goto(`${BASE}/login?next=${encodeURIComponent('/orgs/acme-corp/settings/api-keys?x=1')}`);
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/orgs/acme-corp/settings/api-keys?x=1`);
  await page.locator('.user-menu summary').click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE}/login`);
  await page.goto(`${BASE}/login?next=${encodeURIComponent('//evil.example/')}`);
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/orgs`);
  step('sign out; login honours ?next= on this site and ignores one that leaves it');

  // --- an MCP client's OAuth sign-in goes through the dashboard's login page ---
  await page.locator('.user-menu summary').click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE}/login`);
  const redirect = 'http://127.0.0.1:9/callback';
  const reg = await page.request.post(`${BASE}/register`, {
    data: { client_name: 'Browser test client', redirect_uris: [redirect], token_endpoint_auth_method: 'none' },
  });
  check(reg.ok(), 'dynamic client registration');
  const { client_id } = await reg.json();
  const { createHash, randomBytes } = await import('node:crypto');
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authorize = `${BASE}/authorize?` + new URLSearchParams({
    response_type: 'code', client_id, redirect_uri: redirect, code_challenge: challenge,
    code_challenge_method: 'S256', state: 'xyz', resource: `${BASE}/mcp/acme-corp`, scope: 'mcp',
  });
  // The client's redirect target does not exist: catch the navigation to it.
  await page.route('http://127.0.0.1:9/**', route => route.fulfill({ body: 'ok' }));
  await page.goto(authorize);
  await page.waitForURL(/\/login\?next=%2Fauthorize/);
  await page.getByLabel('Email').fill('ada@example.com');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  check((await page.content()).includes('Browser test client'), 'the consent page names the client');
  await shot(page, 'oauth-consent');
  const back = page.waitForRequest(/^http:\/\/127\.0\.0\.1:9\/callback/);
  await page.getByRole('button', { name: 'Allow' }).click();
  const cb = new URL((await back).url());
  check(cb.searchParams.get('state') === 'xyz' && cb.searchParams.get('code') && cb.searchParams.get('iss') === BASE,
    'the client gets code, state and iss');
  const tok = await page.request.post(`${BASE}/token`, {
    form: { grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: redirect,
      client_id, code_verifier: verifier, resource: `${BASE}/mcp/acme-corp` },
  });
  check(tok.ok() && (await tok.json()).access_token, 'the code exchanges for tokens');
  step('OAuth: signed-out /authorize -> dashboard login -> consent -> code -> tokens');

  // --- Bob turns on two-factor authentication; oathtool computes the codes ---
  await bob.page.getByRole('link', { name: 'Security', exact: true }).last().click();
  await bob.page.waitForURL(`${BASE}/account/security`);
  await bob.page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const totpSecret = (await bob.page.locator('#totp-secret').innerText()).trim();
  check(/^[A-Z2-7]{16,}$/.test(totpSecret), `a base32 secret is shown (${totpSecret})`);
  check((await bob.page.locator('#totp-qr').getAttribute('src')).startsWith('data:image/svg+xml'), 'the QR code is the server\'s SVG as an image');
  await shot(bob.page, 'totp-setup');
  await bob.page.getByLabel('Code from the app').fill('000000');
  await bob.page.getByRole('button', { name: 'Turn on' }).click();
  await bob.page.getByRole('alert').waitFor();
  step(`a wrong code is refused: ${(await bob.page.getByRole('alert').innerText()).replace(/\s+/g, ' ')}`);
  await bob.page.getByLabel('Code from the app').fill(totp(totpSecret));
  await bob.page.getByRole('button', { name: 'Turn on' }).click();
  await bob.page.getByText('Save them now').waitFor();
  const codes = await bob.page.locator('#backup-codes li').allInnerTexts();
  check(codes.length === 10, `ten backup codes shown (${codes.length})`);
  await bob.page.getByRole('button', { name: 'Copy' }).click();
  await bob.page.getByRole('button', { name: 'Copied' }).waitFor();
  check((await bob.page.evaluate(() => navigator.clipboard.readText())).trim() === codes.join('\n'), 'the clipboard holds the backup codes');
  check((await bob.page.getByRole('link', { name: 'Download' }).getAttribute('download')) === 'gatehouse-backup-codes.txt', 'a download link for the codes');
  await shot(bob.page, 'totp-backup-codes');
  await bob.page.getByRole('button', { name: 'I have saved them' }).click();
  await bob.page.getByText('10 backup code(s) left.').waitFor();
  await bob.page.reload();
  await bob.page.getByText('10 backup code(s) left.').waitFor();
  check(!(await bob.page.content()).includes(codes[0]), 'the backup codes are not shown again');
  step('Bob enrolled with an oathtool code; 10 backup codes shown once, copied');

  // --- a passkey, on Chromium's virtual authenticator (DevTools protocol) ---
  const cdp = await bob.context.newCDPSession(bob.page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', { options: {
    protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
    isUserVerified: true, automaticPresenceSimulation: true } });
  await bob.page.getByLabel('Name of the new passkey').fill('Work laptop');
  await bob.page.getByRole('button', { name: 'Add a passkey' }).click();
  await bob.page.getByRole('cell', { name: 'Work laptop', exact: true }).waitFor();
  await bob.page.getByRole('button', { name: 'Rename passkey Work laptop' }).click();
  await bob.page.getByLabel('New name').fill('Bob laptop');
  await bob.page.getByRole('button', { name: 'Save name' }).click();
  await bob.page.getByRole('cell', { name: 'Bob laptop', exact: true }).waitFor();
  step('a passkey registered on the virtual authenticator, then renamed');
  await shot(bob.page, 'passkeys');

  // --- Bob signs in again: password, then a code ---
  await bob.page.locator('.user-menu summary').click();
  await bob.page.getByRole('button', { name: 'Sign out' }).click();
  await bob.page.waitForURL(`${BASE}/login`);
  await bob.page.getByLabel('Email').fill('bob@example.com');
  await bob.page.getByLabel('Password').fill(PASSWORD);
  await bob.page.getByRole('button', { name: 'Sign in' }).click();
  await bob.page.getByLabel('Authentication code').waitFor();
  await shot(bob.page, 'login-second-step');
  await bob.page.getByLabel('Authentication code').fill('123456');
  await bob.page.getByRole('button', { name: 'Verify' }).click();
  await bob.page.getByRole('alert').waitFor();
  step(`a wrong code at the second step: ${(await bob.page.getByRole('alert').innerText()).replace(/\s+/g, ' ')}`);
  // The enrolment used this time step's code (replays are refused): the next step's.
  await bob.page.getByLabel('Authentication code').fill(totp(totpSecret, 'now + 30 seconds'));
  await bob.page.getByRole('button', { name: 'Verify' }).click();
  await bob.page.waitForURL(`${BASE}/orgs`);
  await bob.page.goto(`${BASE}/account/sessions`);
  await bob.page.getByRole('cell', { name: 'Password + authenticator app' }).waitFor();
  step('Bob signed in with password + oathtool code; the session list says so');
  await shot(bob.page, 'sessions-sign-in-method');

  // --- Bob signs in with the passkey, then removes it ---
  await bob.page.locator('.user-menu summary').click();
  await bob.page.getByRole('button', { name: 'Sign out' }).click();
  await bob.page.waitForURL(`${BASE}/login`);
  await bob.page.getByLabel('Email').fill('bob@example.com');
  await bob.page.getByLabel('Password').fill(PASSWORD);
  await bob.page.getByRole('button', { name: 'Sign in' }).click();
  await bob.page.getByRole('button', { name: 'Use a passkey' }).click();
  await bob.page.waitForURL(`${BASE}/orgs`);
  await bob.page.goto(`${BASE}/account/sessions`);
  await bob.page.getByRole('cell', { name: 'Passkey', exact: true }).waitFor();
  step('Bob signed in with password + passkey; the session list says so');
  await bob.page.goto(`${BASE}/account/security`);
  await bob.page.getByRole('button', { name: 'Remove passkey Bob laptop' }).click();
  await bob.page.locator('#passkey-remove-password').fill(PASSWORD);
  await bob.page.getByRole('button', { name: 'Remove passkey', exact: true }).click();
  await bob.page.getByText('No passkeys yet.').waitFor();
  step('passkey removed with the password');

  // --- PIN protection: Ada sets her PIN while turning it on; a key revocation asks for it ---
  await page.goto(`${BASE}/orgs/acme-corp/settings/security`);
  await page.getByRole('button', { name: 'Turn on PIN protection' }).click();
  await page.getByLabel('PIN (6 digits)').fill('135790');
  await page.getByLabel('The same PIN again').fill('135790');
  await shot(page, 'pin-protection-set-pin');
  await page.getByRole('button', { name: 'Set PIN and turn on' }).click();
  await page.getByText('PIN protection is on.').waitFor();
  step('PIN protection on, after Ada chose her PIN');
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByLabel('Name').fill('Deploy bot');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByText('you will not see it again').waitFor();
  await page.reload();
  await page.getByRole('cell', { name: 'Deploy bot' }).waitFor();
  await page.getByRole('button', { name: 'Revoke', exact: true }).click();
  await page.getByRole('button', { name: 'Yes, revoke' }).click();
  const dialog = page.getByRole('dialog', { name: 'Enter your PIN' });
  await dialog.waitFor();
  await dialog.getByLabel('PIN').fill('000000');
  await dialog.getByRole('button', { name: 'Continue' }).click();
  await dialog.getByRole('alert').waitFor();
  step(`a wrong PIN is refused in the dialog: ${(await dialog.getByRole('alert').innerText()).replace(/\s+/g, ' ')}`);
  await shot(page, 'pin-prompt-wrong');
  await dialog.getByLabel('PIN').fill('135790');
  await dialog.getByRole('button', { name: 'Continue' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.locator('.badge.revoked').nth(1).waitFor();
  step('revoking a key asked for the PIN, then the revocation went through');
  await shot(page, 'pin-guarded-revoked');

  // --- Require MFA: Ada (no MFA) cannot; Bob can; Ada is then sent to set-up ---
  await page.getByRole('link', { name: 'Security' }).first().click();
  await page.getByRole('button', { name: 'Require MFA' }).click();
  await page.getByRole('button', { name: 'Yes, require MFA' }).click();
  await page.getByText('Set up two-factor authentication for yourself first.').waitFor();
  step('Ada, without MFA, cannot require it');
  await bob.page.goto(`${BASE}/orgs/acme-corp/settings/security`);
  await bob.page.locator('#mfa-preview li', { hasText: 'ada@example.com' }).waitFor();
  check((await bob.page.locator('#mfa-preview li').count()) === 1, 'only Ada would be blocked');
  await shot(bob.page, 'require-mfa-preview');
  await bob.page.getByRole('button', { name: 'Require MFA' }).click();
  await bob.page.getByRole('button', { name: 'Yes, require MFA' }).click();
  await bob.page.getByText('MFA is required.').waitFor();
  step('Bob (with MFA) requires MFA after the preview listed Ada');
  await page.goto(`${BASE}/orgs/acme-corp/settings/general`);
  await page.waitForURL(/\/account\/security\?mfa_required=acme-corp/);
  await page.getByText('requires two-factor authentication').waitFor();
  await page.getByRole('button', { name: 'Set up an authenticator app' }).waitFor();
  step('Ada, blocked, is sent to Account → Security to set up MFA');
  await shot(page, 'mfa-required-setup');

  if (errors.length) throw new Error(`browser errors:\n${errors.join('\n')}`);
  console.log('browser test passed');
} catch (e) {
  await shot(ada.page, 'zz-failure-ada').catch(() => {});
  if (bob) await shot(bob.page, 'zz-failure-bob').catch(() => {});
  console.error(errors.join('\n'));
  console.error(e);
  process.exitCode = 1;
} finally {
  await ada.context.close();
  if (bob) await bob.context.close();
}
