// Errors the page reports to its own server: refreshes failing three times
// in a row make one report (a beacon to /api/v1/client-errors) with the
// page's path and no query string, which the server counts by kind.
const { test, expect } = require('@playwright/test');
const { startTarget, startUpbeat } = require('./fixtures');

let healthy;
let upbeat;

test.beforeEach(async () => {
  healthy = await startTarget(200);
  upbeat = await startUpbeat(`
[[services]]
slug = "api"
name = "Public API"
interval = "1s"
[services.check]
kind = "http"
url = "${healthy.url}"
`);
  await upbeat.waitForService('api', (s) => s.status === 'operational');
});

test.afterEach(async () => {
  expect(await upbeat.stop()).toBe(0);
  await healthy.close();
});

/** `upbeat_frontend_errors_total{kind}` as the server counts it. */
async function counted(kind) {
  const text = await (await fetch(`${upbeat.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`upbeat_frontend_errors_total{kind="${kind}"}`));
  return Number(line?.split(' ').pop());
}

test('refreshes failing three times in a row are reported once', async ({ page }) => {
  await page.clock.install();
  await page.goto(`${upbeat.base}/services/api?from=newsletter`);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  expect(await counted('refresh')).toBe(0);

  let failed = 0;
  await page.route(/\/public\/status/, (route) => {
    failed += 1;
    return route.fulfill({ status: 503, body: 'unavailable' });
  });
  const reports = [];
  page.on('request', (r) => r.url().endsWith('/api/v1/client-errors') && reports.push(r));
  // One refresh at a time: the next tick is skipped while one is in flight,
  // so each failure is awaited before the clock moves on.
  const failRefresh = async (n) => {
    await page.clock.fastForward(30_000);
    await expect.poll(() => failed).toBe(n);
  };
  await failRefresh(1);
  await failRefresh(2);
  await expect(page.locator('.stale-notice')).toBeVisible();
  expect(reports).toHaveLength(0);
  await failRefresh(3);
  await expect.poll(() => reports.length).toBe(1);
  const body = JSON.parse(reports[0].postData());
  expect(body).toMatchObject({ kind: 'refresh', route: '/services/api', message: 'status 503' });
  await expect.poll(() => counted('refresh')).toBe(1);

  // The streak goes on: no second report.
  await failRefresh(4);
  await failRefresh(5);
  expect(reports).toHaveLength(1);
  expect(await counted('refresh')).toBe(1);
});
