// Objectives on the service page (`page.show_slo = true`): the figures and
// the error-budget burndown, drawn by the server as SVG with the figures in
// words as its text alternative, the same after hydration.
const { test, expect } = require('@playwright/test');
const { startTarget, startUpbeat } = require('./fixtures');

const SERVICES = (healthy, broken) => `
[[services]]
slug = "api"
name = "Public API"
interval = "1s"
[services.check]
kind = "http"
url = "${healthy.url}"

[[services]]
slug = "billing"
name = "Billing"
interval = "1s"
[services.slo]
availability = 99.5
latency = []
[services.check]
kind = "http"
url = "${broken.url}"
`;

let healthy;
let broken;
let upbeat;

test.beforeEach(async () => {
  healthy = await startTarget(200);
  broken = await startTarget(503);
  upbeat = await startUpbeat(SERVICES(healthy, broken), 'show_slo = true');
  await upbeat.waitForService('api', (s) => s.status === 'operational' && s.objectives?.length === 3);
  await upbeat.waitForService('billing', (s) => s.status === 'major_outage');
});

test.afterEach(async () => {
  expect(await upbeat.stop()).toBe(0);
  await healthy.close();
  await broken.close();
});

test('the burndown chart has the figures in words for screen readers', async ({ page }) => {
  const errors = [];
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto(`${upbeat.base}/services/api`);
  await expect(page.getByRole('heading', { name: 'Objectives' })).toBeVisible();
  const charts = page.getByRole('img', { name: /error budget/ });
  await expect(charts).toHaveCount(3);
  const availability = page.getByRole('img', { name: /99\.9 % available/ });
  await expect(availability).toHaveAttribute(
    'aria-label',
    /^Public API: objective 99\.9 % available\. Achieved 100 % over 30 days\. 100 % of the error budget left\. Status ok\./,
  );
  await expect(availability.locator('title')).toHaveText(/99\.9 % available/);
  // One day of data: the line is one point, today at the right end, at the top.
  await expect(availability.locator('polyline')).toHaveAttribute('points', /^600\.0,10\.0$/);
  await expect(page.getByRole('img', { name: /95 % within 300 ms/ })).toBeVisible();

  // A failing service: the budget is spent; the line is below the dashed one.
  await page.goto(`${upbeat.base}/services/billing`);
  const spent = page.getByRole('img', { name: /99\.5 % available/ });
  await expect(spent).toHaveAttribute('aria-label', /Error budget spent\. Status exhausted\./);
  await expect(spent.locator('polyline')).toHaveAttribute('points', /^600\.0,110\.0$/);
  await expect(page.locator('figure.objective')).toHaveCount(1);
  await expect(page.locator('.slo-exhausted')).toHaveText('exhausted');

  // Hydrated, the same chart and no errors (a mismatch would log one).
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  await expect(spent).toHaveAttribute('aria-label', /Error budget spent/);
  expect(errors).toEqual([]);
});
