// Subscribers in Chromium, with a real SMTP server: a visitor subscribes
// without JavaScript (the form posts to a page) and another with it (the
// form answers in place), each confirms from the link in the mail they
// received, both receive the next incident update for the services they
// follow, one leaves with one click (a POST to the mail's
// List-Unsubscribe address, as a mail provider sends it) and receives
// nothing more; a forged link gets a clear page; axe-core finds nothing
// on the form and the subscription pages (in the context with scripts:
// axe runs as one).
const { test, expect } = require('@playwright/test');
const AxeBuilder = require('@axe-core/playwright').default;
const { startUpbeat, startSmtp, mailHeader, mailLink } = require('./fixtures');

const SERVICES = `
[[services]]
slug = "api"
name = "Public API"
interval = "1h"
[services.check]
kind = "push"

[[services]]
slug = "web"
name = "Website"
interval = "1h"
[services.check]
kind = "push"
`;

async function start() {
  const smtp = await startSmtp();
  const upbeat = await startUpbeat(SERVICES, (base) => `
[server]
public_url = "${base}"

[smtp]
host = "127.0.0.1"
port = ${smtp.port}
tls = "none"
from = "E2E status <status@example.com>"

[subscribers]
enabled = true
`);
  await upbeat.waitForService('api', () => true);
  return { smtp, upbeat };
}

async function axe(page) {
  const results = await new AxeBuilder({ page }).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`)).toEqual([]);
}

/** Opens the mail's confirmation link and confirms. */
async function confirmFrom(page, mail, base) {
  await page.goto(mailLink(mail, `${base}/subscribe/confirm?token=`));
  await expect(page.getByRole('heading', { name: 'Confirm your subscription' })).toBeVisible();
  await page.getByRole('button', { name: 'Confirm subscription' }).click();
  await expect(page.getByRole('heading', { name: 'You are subscribed' })).toBeVisible();
}

test('subscribe with and without JavaScript, confirm, get the update, leave with one click', async ({ browser }) => {
  const { smtp, upbeat } = await start();
  try {
    // Without JavaScript: the home page's form posts to a page.
    const plain = await browser.newContext({ javaScriptEnabled: false });
    const page = await plain.newPage();
    await page.goto(upbeat.base);
    await expect(page.getByRole('heading', { name: 'Get updates' })).toBeVisible();
    await page.getByLabel('Email me when there is an incident or maintenance').fill('ada@example.com');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await expect(page.getByRole('status')).toContainText('Check your inbox');
    expect(new URL(page.url()).pathname).toBe('/subscribe');
    const [adaConfirm] = await smtp.waitFor('ada@example.com', 1);
    expect(mailHeader(adaConfirm, 'Subject')).toBe('Confirm your subscription to E2E status');
    await confirmFrom(page, adaConfirm, upbeat.base);
    await expect(page.getByRole('status')).toContainText('ada@example.com gets updates about every service');

    // With JavaScript, on the API's page: the answer comes in place.
    const scripted = await browser.newContext();
    const js = await scripted.newPage();
    // The form sits after the hydrated app: hydration must not mind it.
    const errors = [];
    js.on('pageerror', (e) => errors.push(e.message));
    js.on('console', (m) => m.type() === 'error' && !m.text().includes('status of 4') && errors.push(m.text()));
    await js.goto(upbeat.base);
    await expect(js.locator('html')).toHaveAttribute('data-hydrated', 'true');
    await axe(js);
    await js.goto(`${upbeat.base}/services/api`);
    await expect(js.locator('html')).toHaveAttribute('data-hydrated', 'true');
    await js.getByLabel('Email me about Public API').fill('bob@example.com');
    await js.getByRole('button', { name: 'Subscribe' }).click();
    await expect(js.locator('.subscribe-note')).toContainText('Check your inbox');
    expect(new URL(js.url()).pathname).toBe('/services/api');
    await expect(js.getByLabel('Email me about Public API')).toHaveValue('');
    expect(errors).toEqual([]);
    const [bobConfirm] = await smtp.waitFor('bob@example.com', 1);
    await confirmFrom(js, bobConfirm, upbeat.base);
    await expect(js.getByRole('status')).toContainText('bob@example.com gets updates about Public API');
    await axe(js);

    // An incident on the API: both hear of it.
    const incident = await upbeat.admin('POST', '/api/v1/incidents', {
      title: 'Checkout errors',
      body: 'We are **investigating**.',
      services: [{ slug: 'api', status: 'partial_outage' }],
    });
    const [, adaOpened] = await smtp.waitFor('ada@example.com', 2);
    const [, bobOpened] = await smtp.waitFor('bob@example.com', 2);
    for (const mail of [adaOpened, bobOpened]) {
      expect(mailHeader(mail, 'Subject')).toBe('[E2E status] Incident opened: Checkout errors');
      expect(mailHeader(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    }
    // Ada opens the manage page from her mail.
    await js.goto(mailLink(adaOpened, `${upbeat.base}/subscribe/manage?token=`));
    await expect(js.getByRole('heading', { name: 'Your subscription' })).toBeVisible();
    await axe(js);

    // One click: what a mail provider sends to List-Unsubscribe.
    const unsubscribe = mailHeader(adaOpened, 'List-Unsubscribe').replace(/^<|>$/g, '');
    const answer = await fetch(unsubscribe, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(answer.status).toBe(200);

    // The next update reaches Bob only.
    await upbeat.admin('POST', `/api/v1/incidents/${incident.id}/updates`, { status: 'resolved', body: 'Fixed.' });
    const [, , bobResolved] = await smtp.waitFor('bob@example.com', 3);
    expect(mailHeader(bobResolved, 'Subject')).toBe('[E2E status] Resolved: Checkout errors');
    expect(mailHeader(bobResolved, 'In-Reply-To')).toBe(mailHeader(bobOpened, 'Message-ID'));
    await new Promise((r) => setTimeout(r, 1000));
    expect(smtp.mails.filter((m) => m.to.includes('ada@example.com')).length).toBe(2);

    // Her old manage link says the subscription is gone.
    const gone = await page.goto(mailLink(adaOpened, `${upbeat.base}/subscribe/manage?token=`));
    expect(gone.status()).toBe(410);
    await expect(page.getByRole('heading', { name: 'This subscription no longer exists' })).toBeVisible();

    // A forged link: a clear page, no confirmation.
    const forged = mailLink(bobConfirm, `${upbeat.base}/subscribe/confirm?token=`).replace('token=c', 'token=c9');
    const refused = await js.goto(forged);
    expect(refused.status()).toBe(400);
    await expect(js.getByRole('alert')).toContainText('This link is not valid');
    await axe(js);

    // The whole form: every service to choose from; errors next to fields.
    await js.goto(`${upbeat.base}/subscribe`);
    await axe(js);
    await js.getByLabel('Email address').fill('not-an-address');
    await js.getByRole('button', { name: 'Subscribe' }).click();
    await expect(js.locator('#email-error')).toContainText('email is not an email address');
    await expect(js.getByLabel('Email address')).toHaveAttribute('aria-invalid', 'true');
    await axe(js);
    await plain.close();
    await scripted.close();
  } finally {
    await upbeat.stop();
    await smtp.close();
  }
});
