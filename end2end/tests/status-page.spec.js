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
  // Without JavaScript, times stay in UTC.
  await expect(page.locator('time.generated-at')).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
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
  const billing = page.locator('li[data-slug="billing"]');
  await expect(billing).toHaveAttribute('data-status', 'major_outage');
  // Mark the document and the row, and put the keyboard focus on a day bar:
  // an update in place keeps all three.
  await page.evaluate(() => {
    window.__sameDocument = true;
    document.querySelector('li[data-slug="billing"]').__sameRow = true;
    document.querySelector('li[data-slug="billing"] .bar:last-child').focus();
    // Hydration read the days back from the markup, so a refresh that
    // changes no level leaves the bars as they are.
    document.querySelector('li[data-slug="api"] .bar:last-child').__sameBar = true;
  });
  // Today's bar of the failing service holds its incident's link, which
  // its tooltip shows.
  await expect(page.locator('.bar:focus .bar-tip a.bar-incident')).toHaveCount(1);
  const box = (selector) => page.locator(selector).evaluate((e) => {
    const r = e.getBoundingClientRect();
    return [r.top, r.height];
  });
  const banner = await box('.banner-box');

  broken.setStatus(200);
  await upbeat.waitForService('billing', (s) => s.status === 'operational');
  // Nothing changes on screen before the refresh is due.
  await expect(billing).toHaveAttribute('data-status', 'major_outage');

  await page.clock.fastForward(30_000);
  await expect(billing).toHaveAttribute('data-status', 'operational');
  await expect(page.locator('.banner-text')).toHaveText('All Systems Operational');
  await expect(page).toHaveTitle('E2E status — All Systems Operational');
  expect(await page.evaluate(() => window.__sameDocument)).toBe(true);
  const kept = await page.evaluate(() => ({
    row: document.querySelector('li[data-slug="billing"]').__sameRow === true,
    focus: document.activeElement === document.querySelector('li[data-slug="billing"] .bar:last-child'),
  }));
  expect(kept).toEqual({ row: true, focus: true });
  expect(await page.evaluate(() => document.querySelector('li[data-slug="api"] .bar:last-child').__sameBar)).toBe(true);
  // The banner above it all keeps its place and size (the incident that
  // resolved below it is gone, as it should be).
  expect(await box('.banner-box')).toEqual(banner);
  expect(consoleErrors).toEqual([]);
});

test('a refresh that takes over 5 s keeps the last data and says so', async ({ page }) => {
  await page.clock.install();
  await page.goto(upbeat.base);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  const notice = page.locator('.stale-notice');
  await expect(notice).toBeHidden();

  const apiTop = await page.locator('li[data-slug="api"]').evaluate((e) => e.getBoundingClientRect().top);
  // From now on /public/status never answers.
  await page.route('**/public/status', () => {});
  broken.setStatus(200);
  await page.clock.fastForward(30_000);
  await page.clock.fastForward(5_000);
  await expect(notice).toBeVisible();
  // The notice covers nothing up and moves nothing.
  expect(await page.locator('li[data-slug="api"]').evaluate((e) => e.getBoundingClientRect().top)).toBe(apiTop);
  // The time of the data still shown, in the reader's zone like every time on the page.
  const shown = await page.locator('time.generated-at').getAttribute('datetime');
  const hhmm = await page.evaluate((iso) => {
    const d = new Date(iso);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  }, shown);
  await expect(notice).toHaveText(`Showing data from ${hhmm} — retrying`);
  await expect(page.locator('li[data-slug="billing"]')).toHaveAttribute('data-status', 'major_outage');

  // An error answer is treated the same way.
  await page.unroute('**/public/status');
  await page.route('**/public/status', (route) => route.fulfill({ status: 503, body: 'unavailable' }));
  await page.clock.fastForward(30_000);
  await expect(notice).toHaveText(`Showing data from ${hhmm} — retrying`);
  await expect(page.locator('li[data-slug="billing"]')).toHaveAttribute('data-status', 'major_outage');

  // The next good refresh clears the notice.
  await page.unroute('**/public/status');
  await upbeat.waitForService('billing', (s) => s.status === 'operational');
  await page.clock.fastForward(30_000);
  await expect(notice).toBeHidden();
  await expect(page.locator('li[data-slug="billing"]')).toHaveAttribute('data-status', 'operational');
});

test('keyboard reaches every day bar and its details', async ({ page }) => {
  await page.goto(upbeat.base);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  const bars = page.locator('li[data-slug="api"] .bar');
  await expect(bars).toHaveCount(90);
  await expect(page.locator('.bar[tabindex="0"]')).toHaveCount(180);
  // Tab from the top of the page until a bar has the focus.
  let focused = '';
  for (let i = 0; i < 30 && !focused.includes('bar '); i += 1) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.className || '');
  }
  expect(focused).toContain('bar ');
  const tip = page.locator('.bar:focus .bar-tip');
  await expect(tip).toBeVisible();
  await expect(tip).toHaveText(/^\d{4}-\d\d-\d\d: /);
  // The next Tab moves to the next day, whose details show in turn.
  const first = await tip.textContent();
  await page.keyboard.press('Tab');
  await expect(page.locator('.bar:focus .bar-tip')).toBeVisible();
  expect(await page.locator('.bar:focus .bar-tip').textContent()).not.toBe(first);
  // One tooltip for the whole page, made on demand, not one per bar.
  await expect(page.locator('.bar-tip')).toHaveCount(1);
  // Today's bar, once focused, is described for screen readers; the bar
  // before loses its description.
  const today = bars.last();
  await today.focus();
  const described = await today.getAttribute('aria-describedby');
  await expect(page.locator(`[id="${described}"]`)).toHaveText(/^\d{4}-\d\d-\d\d: .*uptime/);
  await expect(page.locator('.bar[aria-describedby]')).toHaveCount(1);
  // The pointer shows another day's details.
  await bars.nth(3).hover();
  await expect(page.locator('.bar:hover .bar-tip')).toBeVisible();
  expect(consoleErrors).toEqual([]);
});

test('incident Markdown is rendered, and a script in it never runs', async ({ page }) => {
  let dialogs = 0;
  page.on('dialog', async (dialog) => {
    dialogs += 1;
    await dialog.dismiss();
  });
  const incident = await upbeat.admin('POST', '/api/v1/incidents', {
    title: 'Billing errors',
    services: [{ slug: 'billing', status: 'major_outage' }],
    body: '**Billing** is down.\n\n<script>window.pwned = 1; alert(1)</script>\n\n<img src="/favicon.svg" alt="" onerror="window.pwned = 2">\n\n[more](javascript:window.pwned=3)',
  });
  await page.goto(`${upbeat.base}/incidents/${incident.id}`);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  await expect(page.locator('h1')).toHaveText(['E2E status', 'Billing errors']);
  await expect(page.locator('.update-body strong')).toHaveText('Billing');
  await page.locator('.update-body a').click().catch(() => {});
  await page.waitForTimeout(500);
  expect(await page.evaluate(() => window.pwned)).toBeUndefined();
  expect(dialogs).toBe(0);
  // The home page shows it too, linked, and still runs nothing.
  await page.goto(upbeat.base);
  await expect(page.locator(`article[data-incident="${incident.id}"] .update-body strong`)).toHaveText('Billing');
  expect(await page.evaluate(() => window.pwned)).toBeUndefined();
  // And the month's history lists it; its link leads to the incident.
  await page.goto(`${upbeat.base}/history`);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  await page.locator(`.past a[href="/incidents/${incident.id}"]`).click();
  await expect(page).toHaveURL(`${upbeat.base}/incidents/${incident.id}`);
  await expect(page.locator('.update-body strong')).toHaveText('Billing');
  expect(consoleErrors).toEqual([]);
});

// Every visible text on the page whose contrast with the background behind
// it is below WCAG AA (4.5:1, or 3:1 for large text). Runs in the page.
function lowContrastText() {
  const parse = (c) => {
    const [r, g, b, a = 1] = c.match(/rgba?\(([^)]+)\)/)[1].split(',').map(Number);
    return { r, g, b, a };
  };
  const channel = (v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ({ r, g, b }) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || !element.checkVisibility() || element.closest('[aria-hidden="true"]')) continue;
    const style = getComputedStyle(element);
    const [hi, lo] = [luminance(parse(style.color)), luminance(background(element))].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) {
      low.push(`${element.tagName.toLowerCase()}.${element.className} ${ratio.toFixed(2)}:1 "${node.textContent.trim().slice(0, 40)}"`);
    }
  }
  return low;
}

test('light, dark and phone views: colours follow the system, nothing overflows at 320 px', async ({ browser }, testInfo) => {
  const shot = async (name, options) => {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    const errors = [];
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    await page.goto(upbeat.base);
    await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
    const colours = await page.evaluate(() => {
      const body = getComputedStyle(document.body);
      const bars = [...document.querySelectorAll('li[data-slug="api"] .bar')].filter((b) => b.checkVisibility());
      return { background: body.backgroundColor, text: body.color, width: document.documentElement.scrollWidth, bars: bars.length };
    });
    expect(await page.evaluate(lowContrastText), `${name}: text below WCAG AA contrast`).toEqual([]);
    await page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
    await context.close();
    expect(errors).toEqual([]);
    return colours;
  };
  const light = await shot('light', { colorScheme: 'light', viewport: { width: 1280, height: 900 } });
  const dark = await shot('dark', { colorScheme: 'dark', viewport: { width: 1280, height: 900 } });
  const phone = await shot('mobile', { colorScheme: 'light', viewport: { width: 320, height: 640 }, isMobile: true });
  expect(light.background).toBe('rgb(247, 248, 250)');
  expect(dark.background).toBe('rgb(13, 17, 23)');
  expect(dark.text).not.toBe(light.text);
  // Responsive down to 320 px: no horizontal scrolling, and bars wide
  // enough to tap (30 days on a phone).
  expect(phone.width).toBeLessThanOrEqual(320);
  expect([light.bars, phone.bars]).toEqual([90, 30]);
});

test("the tab icon and title follow the status; times are shown in the reader's zone", async ({ browser }) => {
  const context = await browser.newContext({ timezoneId: 'Asia/Tokyo', locale: 'en-US' });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  await page.goto(upbeat.base);
  // Billing is down: a major indicator, in the icon and the title.
  await expect(page.locator('link[rel="icon"][href="/favicon-major.svg"]')).toHaveCount(1);
  await expect(page).toHaveTitle('E2E status — Partial System Outage');
  await expect(page.locator('meta[property="og:title"]')).toHaveAttribute('content', 'E2E status — Partial System Outage');
  const time = page.locator('time.generated-at');
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  // After hydration the time is local (Tokyo, 9 hours ahead), the UTC text in its title.
  await expect(time).not.toHaveText(/UTC$/);
  await expect(time).toHaveAttribute('title', /UTC$/);
  const iso = await time.getAttribute('datetime');
  const expected = new Date(iso).toLocaleString('en-US', { timeZone: 'Asia/Tokyo' });
  await expect(time).toHaveText(expected);
  // Recovery turns the icon green.
  broken.setStatus(200);
  await upbeat.waitForService('billing', (s) => s.status === 'operational');
  await page.reload();
  await expect(page.locator('link[rel="icon"][href="/favicon-none.svg"]')).toHaveCount(1);
  await context.close();
  expect(errors).toEqual([]);
});

test('no refresh while the tab is hidden; one at once when it shows again', async ({ page }) => {
  await page.clock.install();
  await page.goto(upbeat.base);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  let fetches = 0;
  page.on('request', (request) => {
    if (request.url().endsWith('/public/status')) fetches += 1;
  });
  const setHidden = (hidden) =>
    page.evaluate((h) => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
      document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
    }, hidden);
  await setHidden(true);
  await page.clock.fastForward(95_000);
  await page.waitForTimeout(300);
  expect(fetches).toBe(0);
  broken.setStatus(200);
  await upbeat.waitForService('billing', (s) => s.status === 'operational');
  await setHidden(false);
  await expect.poll(() => fetches, { timeout: 5_000 }).toBe(1);
  await expect(page.locator('li[data-slug="billing"]')).toHaveAttribute('data-status', 'operational');
  expect(consoleErrors).toEqual([]);
});

test('a first visit transfers under 250 KB, with every file compressed', async ({ browser }) => {
  // A new context has an empty cache.
  const context = await browser.newContext();
  const page = await context.newPage();
  const codings = {};
  page.on('response', (response) => {
    const path = new URL(response.url()).pathname;
    if (path.startsWith('/pkg/')) codings[path.split('.').pop()] = response.headers()['content-encoding'];
  });
  await page.goto(upbeat.base);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  const transferred = await page.evaluate(() => {
    const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
    return { bytes: entries.reduce((n, e) => n + e.transferSize, 0), files: entries.map((e) => new URL(e.name).pathname) };
  });
  await context.close();
  expect(codings).toEqual({ css: 'br', js: 'br', wasm: 'br' });
  // Each file once: the preloaded WebAssembly is the one instantiated.
  expect(transferred.files.filter((f) => f.endsWith('.wasm'))).toHaveLength(1);
  expect(transferred.bytes).toBeLessThanOrEqual(250_000);
  expect(transferred.bytes).toBeGreaterThan(50_000);
});
