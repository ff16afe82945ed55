// With [client_errors] sentry_dsn the page also sends its errors to Sentry,
// as an envelope through the server's same-origin tunnel, which forwards it
// to the DSN's project. A local Sentry stand-in reads the envelope format
// (a header line naming the DSN, then an item header with the payload's
// length, then the event) and keeps each event.
const http = require('node:http');
const { test, expect } = require('@playwright/test');
const { startTarget, startUpbeat } = require('./fixtures');

/** A Sentry that takes envelopes for project 42. */
async function startSentry() {
  const events = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/api/42/envelope/'
        || req.headers['content-type'] !== 'application/x-sentry-envelope') {
        res.writeHead(400).end();
        return;
      }
      const [headerLine, itemLine, ...rest] = body.split('\n');
      const header = JSON.parse(headerLine);
      const item = JSON.parse(itemLine);
      const payload = Buffer.from(rest.join('\n')).subarray(0, item.length).toString();
      events.push({ header, item, event: JSON.parse(payload) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: header.event_id }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { events, port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

let healthy;
let sentry;
let upbeat;

test.beforeEach(async () => {
  healthy = await startTarget(200);
  sentry = await startSentry();
  upbeat = await startUpbeat(`
[client_errors]
sentry_dsn = "http://public-key@127.0.0.1:${sentry.port}/42"

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
  await sentry.close();
});

test('the page sends its errors to Sentry through the tunnel', async ({ page }) => {
  await page.clock.install();
  await page.goto(`${upbeat.base}/services/api?from=newsletter`);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true', { timeout: 60_000 });
  let failed = 0;
  await page.route(/\/public\/status/, (route) => {
    failed += 1;
    return route.fulfill({ status: 503, body: 'unavailable' });
  });
  const tunnelled = [];
  page.on('request', (r) => r.url().endsWith('/api/v1/client-errors/sentry') && tunnelled.push(r));
  // A refresh still in flight makes the next tick skip: each failure is
  // waited for until the page has handled it (its warning), not only
  // until the request was made.
  let handled = 0;
  page.on('console', (m) => m.text().includes('status refresh failed') && (handled += 1));
  for (let n = 1; n <= 3; n += 1) {
    await page.clock.fastForward(30_000);
    await expect.poll(() => failed).toBe(n);
    await expect.poll(() => handled).toBe(n);
  }
  // Same origin: the browser never talks to Sentry itself.
  await expect.poll(() => tunnelled.length).toBe(1);
  expect(new URL(tunnelled[0].url()).origin).toBe(upbeat.base);
  await expect.poll(() => sentry.events.length).toBe(1);
  const { header, item, event } = sentry.events[0];
  expect(header.dsn).toBe(`http://public-key@127.0.0.1:${sentry.port}/42`);
  expect(header.event_id).toMatch(/^[0-9a-f]{32}$/);
  expect(item.type).toBe('event');
  expect(event.event_id).toBe(header.event_id);
  expect(event.transaction).toBe('/services/api');
  expect(event.tags.kind).toBe('refresh');
  expect(event.exception.values[0].value).toBe('status 503');
});
