// The admin console in Chromium: an editor runs an incident from a
// template to its resolution, with JavaScript and without; a viewer
// cannot post; a cross-site form post is refused; a disabled user's
// session ends at once; the whole flow by keyboard; axe-core on every
// screen in light and dark, with screenshots (light, dark, phone) under
// test-results/console-screens/.
const http = require('node:http');
const path = require('node:path');
const { test, expect } = require('@playwright/test');
const AxeBuilder = require('@axe-core/playwright').default;
const { startTarget, startUpbeat } = require('./fixtures');

const TEMPLATES = `
[[incident_templates]]
name = "Elevated errors"
title = "Elevated error rates"
body = "We are **investigating** elevated error rates."
impact = "major"
service_status = "partial_outage"
`;

const PASSWORDS = { erin: 'erin-password-long', vic: 'vic-password-long', ada: 'ada-password-long' };
const SCREENS = path.join(__dirname, '..', 'test-results', 'console-screens');

async function start() {
  const target = await startTarget(200);
  const services = `
[[services]]
slug = "api"
name = "Public API"
interval = "1s"
[services.check]
kind = "http"
url = "${target.url}"
${TEMPLATES}`;
  const upbeat = await startUpbeat(services);
  await upbeat.waitForService('api', (s) => s.status === 'operational');
  upbeat.addUser('erin', 'editor', PASSWORDS.erin);
  upbeat.addUser('vic', 'viewer', PASSWORDS.vic);
  upbeat.addUser('ada', 'admin', PASSWORDS.ada);
  return { target, upbeat };
}

async function signIn(page, upbeat, name) {
  await page.goto(`${upbeat.base}/admin/login`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(PASSWORDS[name]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Overview' })).toBeVisible();
}

async function unresolved(upbeat) {
  const doc = await (await fetch(`${upbeat.base}/api/v2/incidents/unresolved.json`)).json();
  return doc.incidents.map((i) => i.name);
}

/** Opens an incident from the template, posts an update and resolves it. */
async function runIncident(page, upbeat, { javascript }) {
  await page.getByRole('link', { name: 'New incident' }).click();
  await page.getByRole('link', { name: 'Elevated errors' }).click();
  await expect(page.getByLabel('Title')).toHaveValue('Elevated error rates');
  await expect(page.getByLabel('Impact')).toHaveValue('major');
  await page.getByLabel('Public API').selectOption('partial_outage');
  // The template's text is previewed from the start; what is typed next
  // is previewed live with JavaScript, or by the Preview button without.
  await expect(page.locator('#preview strong')).toHaveText('investigating');
  await page.getByLabel('Message (Markdown)').fill('Errors are **rising** on checkout.\n\n<script>alert(1)</script>');
  if (!javascript) {
    await expect(page.locator('#preview strong')).toHaveText('investigating');
    await page.getByRole('button', { name: 'Preview' }).click();
  }
  await expect(page.locator('#preview strong')).toHaveText('rising');
  await expect(page.locator('#preview script')).toHaveCount(0);
  await page.getByRole('button', { name: 'Open incident' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Elevated error rates' })).toBeVisible();
  expect(await unresolved(upbeat)).toEqual(['Elevated error rates']);

  // On the public page.
  const visitor = await page.context().newPage();
  await visitor.goto(upbeat.base);
  await expect(visitor.getByText('Elevated error rates').first()).toBeVisible();
  await visitor.close();

  await page.getByLabel('Status', { exact: true }).selectOption('identified');
  await page.getByLabel('Message (Markdown)').fill('A bad deploy; rolling back.');
  await page.getByRole('button', { name: 'Post update' }).click();
  await expect(page.locator('.timeline')).toContainText('A bad deploy; rolling back.');
  await page.getByRole('button', { name: 'Resolve now' }).click();
  await expect(page.locator('.facts')).toContainText('Resolved');
  expect(await unresolved(upbeat)).toEqual([]);
}

test('an editor runs an incident from a template to its resolution', async ({ page }) => {
  const { target, upbeat } = await start();
  try {
    await signIn(page, upbeat, 'erin');
    await runIncident(page, upbeat, { javascript: true });
  } finally {
    await upbeat.stop();
    await target.close();
  }
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('every core task works with forms that post', async ({ page }) => {
    const { target, upbeat } = await start();
    try {
      await signIn(page, upbeat, 'erin');
      await runIncident(page, upbeat, { javascript: false });
      // A field's error is shown next to it.
      await page.goto(`${upbeat.base}/admin/incidents/new`);
      await page.getByLabel('Message (Markdown)').fill('No title.');
      await page.getByRole('button', { name: 'Open incident' }).click();
      await expect(page.locator('#title-error')).toHaveText('must not be empty');
      await expect(page.getByLabel('Title')).toHaveAttribute('aria-invalid', 'true');
      await expect(page.getByLabel('Message (Markdown)')).toHaveValue('No title.');
    } finally {
      await upbeat.stop();
      await target.close();
    }
  });
});

test('a viewer cannot post, a forged post is refused, a disabled user is out at once', async ({ page, browser }) => {
  const { target, upbeat } = await start();
  // Another origin on the same host: the browser sends the session
  // cookie along (same site), so only the server's checks stand.
  const attacker = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<form id="f" method="post" action="${upbeat.base}/admin/incidents">
      <input name="csrf" value="guess"><input name="title" value="Forged">
      <input name="body" value="b"><input name="intent" value="create"></form>
      <script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  try {
    await signIn(page, upbeat, 'vic');
    await page.goto(`${upbeat.base}/admin/incidents`);
    await expect(page.getByRole('heading', { level: 1, name: 'Incidents' })).toBeVisible();
    await expect(page.getByRole('link', { name: 'New incident' })).toHaveCount(0);
    await expect(page.getByRole('link', { name: 'Users and tokens' })).toHaveCount(0);
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const forced = await page.request.post(`${upbeat.base}/admin/incidents`, {
      form: { csrf, title: 'By a viewer', body: 'b', intent: 'create' },
      headers: { origin: upbeat.base },
      maxRedirects: 0,
    });
    expect(forced.status()).toBe(403);

    const editor = await browser.newContext();
    const tab = await editor.newPage();
    await signIn(tab, upbeat, 'erin');
    const answer = tab.waitForResponse((r) => r.url() === `${upbeat.base}/admin/incidents` && r.request().method() === 'POST');
    await tab.goto(`http://127.0.0.1:${attacker.address().port}/`);
    expect((await answer).status()).toBe(403);
    await expect(tab.getByRole('heading', { name: 'Not allowed' })).toBeVisible();
    const all = await (await fetch(`${upbeat.base}/api/v2/incidents.json`)).json();
    expect(all.incidents).toEqual([]);

    // Disabled: the next request is the sign-in page.
    const disabled = upbeat.cli(['user', 'disable', 'erin']);
    expect(disabled.code).toBe(0);
    await tab.goto(`${upbeat.base}/admin/incidents`);
    await expect(tab).toHaveURL(/\/admin\/login\?next=/);
    await editor.close();
  } finally {
    await new Promise((resolve) => attacker.close(resolve));
    await upbeat.stop();
    await target.close();
  }
});

/** Presses Tab until the focused element matches `selector`. */
async function tabTo(page, selector, limit = 60) {
  for (let i = 0; i < limit; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), selector)) {
      return;
    }
  }
  throw new Error(`never reached ${selector} with Tab`);
}

test('keyboard only: sign in, open, update and resolve an incident', async ({ page }) => {
  const { target, upbeat } = await start();
  try {
    await page.goto(`${upbeat.base}/admin/login`);
    // The name field has focus on arrival (autofocus lands a frame after
    // load: wait for it rather than type into nothing).
    await expect(page.locator('#name')).toBeFocused();
    await page.keyboard.type('erin');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORDS.erin);
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { level: 1, name: 'Overview' })).toBeVisible();

    await tabTo(page, 'a[href="/admin/incidents/new"]');
    // Focus is visible: the console's outline, not the browser's default.
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    expect(outline).toBe('solid');
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { level: 1, name: 'New incident' })).toBeVisible();
    await tabTo(page, '#title');
    await page.keyboard.type('Checkout is slow');
    await tabTo(page, '#service-api');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await tabTo(page, '#body');
    await page.keyboard.type('Looking into slow checkouts.');
    await tabTo(page, 'button[value="create"]');
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { level: 1, name: 'Checkout is slow' })).toBeVisible();
    await expect(page.locator('.facts')).toContainText('Public API');

    await tabTo(page, '#body');
    await page.keyboard.type('Fixed.');
    await tabTo(page, "form.inline button");
    await page.keyboard.press('Enter');
    await expect(page.locator('.facts')).toContainText('Resolved');
    expect(await unresolved(upbeat)).toEqual([]);
  } finally {
    await upbeat.stop();
    await target.close();
  }
});

test('every console screen passes axe-core in light and dark, with screenshots', async ({ page }) => {
  const { target, upbeat } = await start();
  try {
    // Something on every screen: an incident, a maintenance window, a token.
    const incident = await upbeat.admin('POST', '/api/v1/incidents', {
      title: 'Elevated error rates',
      body: 'We are investigating.',
      services: [{ slug: 'api', status: 'partial_outage' }],
    });
    const start = new Date(Date.now() + 86_400_000);
    const maintenance = await upbeat.admin('POST', '/api/v1/maintenances', {
      title: 'Database upgrade',
      starts_at: start.toISOString(),
      ends_at: new Date(start.getTime() + 3_600_000).toISOString(),
      recurrence: 'FREQ=WEEKLY;COUNT=4',
      services: ['api'],
    });
    upbeat.cli(['token', 'create', '--name', 'deploy-bot', '--role', 'editor']);
    // A user without a password yet: the one-time link's page.
    const created = upbeat.cli(['user', 'create', '--name', 'newbie', '--role', 'viewer']);
    expect(created.code).toBe(0);
    const passwordPage = new URL(created.stdout.trim()).pathname;
    expect(passwordPage).toMatch(/^\/admin\/password\/[0-9a-f]{64}$/);

    const screens = [
      ['login', '/admin/login'],
      ['set-password', passwordPage],
      ['overview', '/admin'],
      ['incidents', '/admin/incidents?status=all'],
      ['new-incident', '/admin/incidents/new?template=Elevated+errors'],
      ['incident', `/admin/incidents/${incident.id}`],
      ['delete-incident', `/admin/incidents/${incident.id}/delete`],
      ['maintenance', '/admin/maintenance'],
      ['new-maintenance', '/admin/maintenance/new'],
      ['maintenance-window', `/admin/maintenance/${maintenance.id}`],
      ['people', '/admin/people'],
      ['audit', '/admin/audit'],
    ];
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width: 1280, height: 900 });
      for (const [name, route] of screens) {
        if (name === 'login' || name === 'set-password') {
          await page.context().clearCookies();
          await page.goto(`${upbeat.base}${route}`);
        } else {
          if (!(await page.context().cookies()).length) await signIn(page, upbeat, 'ada');
          await page.goto(`${upbeat.base}${route}`);
        }
        await expect(page.locator('main h1')).toBeVisible();
        const results = await new AxeBuilder({ page }).analyze();
        const serious = results.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
        expect(serious.map((v) => `${name} (${scheme}): ${v.id}: ${v.nodes.map((n) => n.target).join(', ')}`)).toEqual([]);
        await page.screenshot({ path: path.join(SCREENS, `${name}-${scheme}.png`), fullPage: true });
        if (scheme === 'light') {
          await page.setViewportSize({ width: 320, height: 720 });
          // Nothing wider than a 320 px phone.
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
          expect(overflow, `${name} at 320 px`).toBeLessThanOrEqual(320);
          await page.screenshot({ path: path.join(SCREENS, `${name}-phone.png`), fullPage: true });
          await page.setViewportSize({ width: 1280, height: 900 });
        }
      }
    }
  } finally {
    await upbeat.stop();
    await target.close();
  }
});
