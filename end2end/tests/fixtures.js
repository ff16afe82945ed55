// Real parts for the browser tests: a local HTTP target whose answer a test
// controls, and the real `upbeat` binary with its own config and SQLite file.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.UPBEAT_BIN || path.join(ROOT, 'target', 'release', 'upbeat');
const SITE_ROOT = process.env.UPBEAT_SITE_ROOT || path.join(ROOT, 'target', 'site');
const ADMIN_TOKEN = 'e2e-bootstrap-admin-token';

/** An HTTP server answering every request with the current status code. */
async function startTarget(status = 200) {
  const state = { status };
  const server = http.createServer((req, res) => {
    res.writeHead(state.status, { 'content-type': 'text/plain' });
    res.end(`target says ${state.status}`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    setStatus(code) {
      state.status = code;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `upbeat serve` with the given [[services]] TOML (and more `[page]`
 * keys, when given).
 */
async function startUpbeat(servicesToml, pageToml = '') {
  if (!fs.existsSync(BIN)) throw new Error(`upbeat binary not found at ${BIN}; run scripts/build.sh`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upbeat-e2e-'));
  const config = path.join(dir, 'upbeat.toml');
  fs.writeFileSync(config, `[page]\ntitle = "E2E status"\n${pageToml}\n[defaults]\ntimeout = "2s"\n\n${servicesToml}`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logs = [];
  const child = spawn(
    BIN,
    ['--config', config, '--listen', `127.0.0.1:${port}`, '--database', `sqlite://${path.join(dir, 'upbeat.db')}`, 'serve'],
    {
      env: { ...process.env, UPBEAT_SERVER__SITE_ROOT: SITE_ROOT, UPBEAT_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.on('data', (d) => logs.push(d.toString()));
  child.stderr.on('data', (d) => logs.push(d.toString()));
  const exited = new Promise((resolve) => child.on('exit', resolve));

  const database = `sqlite://${path.join(dir, 'upbeat.db')}`;
  const upbeat = {
    base,
    logs,
    /** Runs an `upbeat` command on this instance's config and database. */
    cli(args, input = '') {
      const run = spawnSync(BIN, ['--config', config, '--database', database, ...args], {
        input,
        encoding: 'utf8',
        env: { ...process.env, RUST_LOG: 'warn' },
      });
      return { code: run.status, stdout: run.stdout, stderr: run.stderr };
    },
    /** Creates a console user with a password (`upbeat user create`). */
    addUser(name, role, password) {
      const run = this.cli(['user', 'create', '--name', name, '--role', role, '--password-stdin'], `${password}\n`);
      if (run.code !== 0) throw new Error(`user create ${name}: ${run.stderr}`);
    },
    async status() {
      const res = await fetch(`${base}/public/status`);
      return res.json();
    },
    /** Calls the admin API with the bootstrap token; returns the JSON. */
    async admin(method, route, body) {
      const res = await fetch(`${base}${route}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    /**
     * Polls the document of the service's page (`/public/status?service=`,
     * which carries it at any page size) until `pred(service)` holds.
     */
    async waitForService(slug, pred, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let last;
      while (Date.now() < deadline) {
        try {
          const doc = await (await fetch(`${base}/public/status?service=${slug}`)).json();
          last = doc.services.find((s) => s.slug === slug);
          if (last && pred(last)) return last;
        } catch {
          // not up yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`service ${slug} never matched; last: ${JSON.stringify(last)}\n${logs.join('')}`);
    },
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  return upbeat;
}

module.exports = { startTarget, startUpbeat };
