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
 * keys, when given; or a function of the server's base URL returning them,
 * for settings that name the server's own address).
 */
async function startUpbeat(servicesToml, pageToml = '') {
  if (!fs.existsSync(BIN)) throw new Error(`upbeat binary not found at ${BIN}; run scripts/build.sh`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upbeat-e2e-'));
  const config = path.join(dir, 'upbeat.toml');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const page = typeof pageToml === 'function' ? pageToml(base) : pageToml;
  fs.writeFileSync(config, `[page]\ntitle = "E2E status"\n${page}\n[defaults]\ntimeout = "2s"\n\n${servicesToml}`);
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

/**
 * A real SMTP server on 127.0.0.1 (RFC 5321: EHLO, MAIL, RCPT, DATA with
 * dot-unstuffing, RSET, NOOP, QUIT) keeping every message it accepts.
 */
async function startSmtp() {
  const mails = [];
  const address = (line) => (line.match(/<([^>]*)>/) || [])[1] || '';
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    socket.write('220 e2e ESMTP\r\n');
    let buffer = '';
    let data = null;
    let from = '';
    let to = [];
    socket.on('data', (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data !== null) {
          if (line === '.') {
            mails.push({ from, to, data: data.join('\r\n') });
            data = null;
            to = [];
            socket.write('250 queued\r\n');
          } else {
            data.push(line.startsWith('.') ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250-e2e\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n');
        else if (verb === 'MAIL') { from = address(line); socket.write('250 ok\r\n'); }
        else if (verb === 'RCPT') { to.push(address(line)); socket.write('250 ok\r\n'); }
        else if (verb === 'DATA') { data = []; socket.write('354 go on\r\n'); }
        else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    mails,
    /** The mails to `to`, once there are at least `n`. */
    async waitFor(to, n, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = mails.filter((m) => m.to.includes(to));
        if (got.length >= n) return got;
        if (Date.now() > deadline) throw new Error(`${got.length} of ${n} mails to ${to} arrived`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A header of a received mail (unfolded). */
function mailHeader(mail, name) {
  const head = mail.data.split('\r\n\r\n')[0].replace(/\r\n[ \t]+/g, ' ');
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line ? line.slice(name.length + 1).trim() : undefined;
}

/** The first link in a mail that starts with `prefix`, quoted-printable undone. */
function mailLink(mail, prefix) {
  const text = /Content-Transfer-Encoding: quoted-printable/i.test(mail.data)
    ? mail.data.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)))
    : mail.data;
  const at = text.indexOf(prefix);
  if (at < 0) throw new Error(`no ${prefix} link in ${mail.data}`);
  return text.slice(at).match(/^[^\s"<>]+/)[0];
}

module.exports = { startTarget, startUpbeat, startSmtp, mailHeader, mailLink };
