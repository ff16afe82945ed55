// The embed widget in a real browser: it refreshes its text in place from
// /public/status (no reload, WCAG 2.2.1), its one script is allowed by the
// CSP's hash, and what the script writes is what the server would render.
const { test, expect } = require('@playwright/test');
const { startTarget, startUpbeat } = require('./fixtures');

let target;
let upbeat;

test.beforeEach(async () => {
  target = await startTarget(200);
  upbeat = await startUpbeat(`
[[services]]
slug = "api"
name = "Public API"
interval = "1s"
[services.check]
kind = "http"
url = "${target.url}"
`);
  await upbeat.waitForService('api', (s) => s.status === 'operational');
});

test.afterEach(async () => {
  await upbeat.stop();
  await target.close();
});

test('the widget refreshes in place and agrees with a fresh render', async ({ page, browser }) => {
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  // The minute between refreshes passes on Playwright's clock.
  await page.clock.install();
  await page.goto(`${upbeat.base}/embed`);
  const link = page.locator('a.w');
  await expect(link.locator('strong')).toHaveText('All Systems Operational');
  await expect(link).toHaveClass('w none');
  await page.evaluate(() => {
    window.sameDocument = true;
  });

  // The service fails; the automatic incident opens.
  target.setStatus(503);
  await upbeat.waitForService('api', (s) => s.status === 'major_outage');
  let status;
  await expect
    .poll(async () => {
      status = await upbeat.status();
      return status.incidents.length;
    })
    .toBe(1);

  await page.clock.runFor(61_000);
  await expect(link.locator('strong')).toHaveText(status.overall.description);
  await expect(link).toHaveClass(`w ${status.overall.indicator}`);
  await expect(link.locator('.n')).toHaveText(status.incidents[0].title);
  await expect(link).toHaveAttribute('href', `/incidents/${status.incidents[0].id}`);
  expect(await page.evaluate(() => window.sameDocument), 'no reload').toBe(true);

  // What the script wrote is what the server renders now, byte for byte.
  const fresh = await browser.newPage();
  await fresh.goto(`${upbeat.base}/embed`);
  expect(await link.evaluate((a) => a.outerHTML)).toBe(await fresh.locator('a.w').evaluate((a) => a.outerHTML));
  await fresh.close();

  // Back to healthy: the incident resolves and the widget follows.
  target.setStatus(200);
  await upbeat.waitForService('api', (s) => s.status === 'operational');
  await expect.poll(async () => (await upbeat.status()).incidents.length, { timeout: 20_000 }).toBe(0);
  await page.clock.runFor(61_000);
  await expect(link.locator('strong')).toHaveText('All Systems Operational');
  await expect(link).toHaveAttribute('href', '/');
  await expect(link.locator('.n')).toHaveText('View E2E status status');
  expect(errors, 'no CSP violation or script error').toEqual([]);
});

test('without JavaScript the widget shows the state at load', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${upbeat.base}/embed?theme=dark`);
  await expect(page.locator('a.w strong')).toHaveText('All Systems Operational');
  await expect(page.locator('body')).toHaveClass('dark');
  await context.close();
});
