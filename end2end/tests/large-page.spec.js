// A page with more services than `[page] max_listed`: the home page lists
// only what is not operational and counts each group; a group's page shows
// its services and refreshes from its own document.
const { test, expect } = require('@playwright/test');
const { startTarget, startUpbeat } = require('./fixtures');

const SERVICES = (healthy, broken) => ['api', 'auth', 'billing']
  .map((slug) => `
[[services]]
slug = "${slug}"
name = "${slug.toUpperCase()}"
group = "Core"
interval = "1s"
[services.check]
kind = "http"
url = "${slug === 'billing' ? broken.url : healthy.url}"
`)
  .join('');

let healthy;
let broken;
let upbeat;

test.beforeEach(async () => {
  healthy = await startTarget(200);
  broken = await startTarget(503);
  upbeat = await startUpbeat(SERVICES(healthy, broken), 'max_listed = 1');
  await upbeat.waitForService('api', (s) => s.status === 'operational');
  await upbeat.waitForService('auth', (s) => s.status === 'operational');
  await upbeat.waitForService('billing', (s) => s.status === 'major_outage');
});

test.afterEach(async () => {
  expect(await upbeat.stop()).toBe(0);
  await healthy.close();
  await broken.close();
});

test("a large page counts groups, and a group's page refreshes in place", async ({ page }) => {
  const errors = [];
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto(upbeat.base);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  const core = page.locator('.group[data-group="core"]');
  await expect(core.locator('.group-counts')).toHaveText('3 services: 2 operational, 1 major outage');
  await expect(core.locator('li.service')).toHaveCount(1);
  await expect(core.locator('li[data-slug="billing"]')).toHaveAttribute('data-status', 'major_outage');

  await page.clock.install();
  await core.locator('.group-name a').click();
  await expect(page).toHaveURL(`${upbeat.base}/groups/core`);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  await expect(page.locator('li.service')).toHaveCount(3);
  await expect(page).toHaveTitle('Core — Major outage');

  broken.setStatus(200);
  await upbeat.waitForService('billing', (s) => s.status === 'operational');
  await page.clock.fastForward(30_000);
  await expect(page.locator('li[data-slug="billing"]')).toHaveAttribute('data-status', 'operational');
  await expect(page.locator('.group-counts')).toHaveText('3 services: 3 operational');
  await expect(page.locator('li.service')).toHaveCount(3);
  await expect(page).toHaveTitle('Core — Operational');
  expect(errors).toEqual([]);
});
