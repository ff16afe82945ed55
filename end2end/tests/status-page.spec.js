// The status page in a real browser: complete without JavaScript, hydrated
// with it, and refreshed in place from /public/status.
const { test, expect } = require('@playwright/test');
const { startTarget, startUpbeat } = require('./fixtures');

const SERVICES = (healthy, broken) => `
[[services]]
slug = "api"
name = "Public API"
group = "Core"
interval = "1s"
[services.check]
kind = "http"
url = "${healthy.url}"

[[services]]
slug = "billing"
name = "Billing"
group = "Core"
interval = "1s"
[services.check]
kind = "http"
url = "${broken.url}"
`;

let healthy;
let broken;
let upbeat;
let consoleErrors;

test.beforeEach(async ({ page }) => {
  healthy = await startTarget(200);
  broken = await startTarget(503);
  upbeat = await startUpbeat(SERVICES(healthy, broken));
  await upbeat.waitForService('api', (s) => s.status === 'operational');
  await upbeat.waitForService('billing', (s) => s.status === 'major_outage');
  consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
});

test.afterEach(async () => {
  expect(await upbeat.stop()).toBe(0);
  await healthy.close();
  await broken.close();
});

test('the page shows the services with their probed statuses without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const response = await page.goto(upbeat.base);
  expect(response.status()).toBe(200);
  await expect(page.locator('h1')).toHaveText('E2E status');
  await expect(page.locator('.banner-text')).toHaveText('Partial System Outage');
  const api = page.locator('li[data-slug="api"]');
  await expect(api).toHaveAttribute('data-status', 'operational');
  await expect(api.locator('.status-text')).toHaveText('Operational');
  const billing = page.locator('li[data-slug="billing"]');
  await expect(billing).toHaveAttribute('data-status', 'major_outage');
  await expect(billing.locator('.status-text')).toHaveText('Major outage');
  await expect(billing.locator('.service-error')).toHaveText('status 503, expected 2xx');
  await expect(api.locator('time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/);
  await expect(api.locator('.service-uptime')).toHaveText('30-day uptime: 100 %');
  await expect(billing.locator('.service-uptime')).toHaveText('30-day uptime: 0.00 %');
  await expect(page.locator('html')).not.toHaveAttribute('data-hydrated', 'true');
  await context.close();
});

test('the page hydrates without console errors', async ({ page }) => {
  await page.goto(upbeat.base);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  await expect(page.locator('li[data-slug="api"]')).toHaveAttribute('data-status', 'operational');
  expect(consoleErrors).toEqual([]);
});

test('a status change on a target appears through the refresh, without a reload', async ({ page }) => {
  // A fake clock lets the test move time 30 s forward instead of waiting.
  await page.clock.install();
  await page.goto(upbeat.base);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const billing = page.locator('li[data-slug="billing"]');
  await expect(billing).toHaveAttribute('data-status', 'major_outage');

  broken.setStatus(200);
  await upbeat.waitForService('billing', (s) => s.status === 'operational');
  // Nothing changes on screen before the refresh is due.
  await expect(billing).toHaveAttribute('data-status', 'major_outage');

  await page.clock.fastForward(30_000);
  await expect(billing).toHaveAttribute('data-status', 'operational');
  await expect(page.locator('.banner-text')).toHaveText('All Systems Operational');
  expect(await page.evaluate(() => window.__sameDocument)).toBe(true);
  expect(consoleErrors).toEqual([]);
});

test('a refresh that takes over 5 s keeps the last data and says so', async ({ page }) => {
  await page.clock.install();
  await page.goto(upbeat.base);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  const notice = page.locator('.stale-notice');
  await expect(notice).toBeHidden();

  // From now on /public/status never answers.
  await page.route('**/public/status', () => {});
  broken.setStatus(200);
  await page.clock.fastForward(30_000);
  await page.clock.fastForward(5_000);
  await expect(notice).toBeVisible();
  await expect(notice).toHaveText(/^Showing data from \d\d:\d\d UTC — retrying$/);
  await expect(page.locator('li[data-slug="billing"]')).toHaveAttribute('data-status', 'major_outage');

  // The next good refresh clears the notice.
  await page.unroute('**/public/status');
  await upbeat.waitForService('billing', (s) => s.status === 'operational');
  await page.clock.fastForward(30_000);
  await expect(notice).toBeHidden();
  await expect(page.locator('li[data-slug="billing"]')).toHaveAttribute('data-status', 'operational');
});
