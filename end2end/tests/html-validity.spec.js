// Every kind of public page, as the server sends it, checked by the Nu HTML
// Checker (the W3C's validator, npm `vnu-jar`, run with the machine's Java).
// The only messages allowed are about the empty comments Leptos writes as
// hydration markers.
const { test, expect } = require('@playwright/test');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vnu = require('vnu-jar');
const { startTarget, startUpbeat } = require('./fixtures');

/** Hydration markers: `<!>` reads as a bogus comment to the checker. */
const MARKER = /^(Bogus comment|Empty comment)/;

/** The checker's errors and warnings for each file, markers left out. */
function check(files) {
  const run = spawnSync('java', ['-jar', vnu, '--format', 'json', '--stdout', '--exit-zero-always', ...files], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error) throw new Error(`java: ${run.error.message} (scripts/setup.sh installs Java)`);
  if (run.status !== 0) throw new Error(`vnu exited ${run.status}: ${run.stderr}`);
  const { messages } = JSON.parse(run.stdout);
  return messages
    .filter((m) => m.type === 'error' || (m.type === 'info' && m.subType === 'warning'))
    .filter((m) => !MARKER.test(m.message))
    .map((m) => `${path.basename(decodeURIComponent(m.url || ''))}:${m.lastLine}: ${m.type}: ${m.message} «${m.extract || ''}»`);
}

test('the public pages validate', async () => {
  const target = await startTarget(200);
  const broken = await startTarget(503);
  const upbeat = await startUpbeat(`
[[services]]
slug = "api"
name = "Public API"
group = "Core"
interval = "1s"
[services.check]
kind = "http"
url = "${target.url}"

[[services]]
slug = "billing"
name = "Billing"
group = "Core"
interval = "1s"
[services.check]
kind = "http"
url = "${broken.url}"
`);
  try {
    await upbeat.waitForService('billing', (s) => s.status === 'major_outage');
    const incident = await upbeat.admin('POST', '/api/v1/incidents', {
      title: 'Slow <logins>',
      body: 'We are **looking** into it.\n\n- one\n- two',
      impact: 'minor',
      services: [{ slug: 'api', status: 'degraded_performance' }],
    });
    const start = new Date(Date.now() + 3_600_000).toISOString();
    const end = new Date(Date.now() + 7_200_000).toISOString();
    await upbeat.admin('POST', '/api/v1/maintenances', { title: 'Database upgrade', description: 'Short.', starts_at: start, ends_at: end, services: ['api'] });
    const pages = {
      home: '/',
      service: '/services/api',
      group: '/groups/core',
      incident: `/incidents/${incident.id}`,
      history: '/history',
      embed: '/embed',
      'not-found': '/no/such/page',
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upbeat-vnu-'));
    const files = [];
    for (const [name, route] of Object.entries(pages)) {
      const res = await fetch(`${upbeat.base}${route}`);
      expect(res.status, route).toBe(name === 'not-found' ? 404 : 200);
      expect(res.headers.get('content-type'), route).toMatch(/^text\/html/);
      const file = path.join(dir, `${name}.html`);
      fs.writeFileSync(file, await res.text());
      files.push(file);
    }
    const problems = check(files);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(problems, problems.join('\n')).toEqual([]);
  } finally {
    await upbeat.stop();
    await target.close();
    await broken.close();
  }
});

test('the checker itself finds a real error', async () => {
  // Guards the filter above: a document with a stray script after </html>
  // and a nanosecond <time> must be reported.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upbeat-vnu-'));
  const file = path.join(dir, 'bad.html');
  fs.writeFileSync(
    file,
    '<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><!><time datetime="2026-12-04T10:00:00.123456789Z">now</time></body></html><script>1</script>',
  );
  const problems = check([file]);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(problems.join('\n')).toContain('datetime');
  expect(problems.join('\n')).toMatch(/script/i);
  expect(problems.join('\n')).not.toContain('Bogus comment');
});
