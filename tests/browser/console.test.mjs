// The web console in a real browser: Debian's chromium (headless), driven by playwright-core,
// against a real `userstream serve` and a real `userstream tail` client.
//
//   node tests/browser/console.test.mjs [path/to/userstream]
//
// The binary comes from the argument, else USERSTREAM_BIN, else target/debug/userstream; the
// browser from CHROMIUM, else /usr/bin/chromium. Screenshots go to target/console-screenshots/.
//
// It logs in through the login page (a wrong token first), creates a key, follows a real tail
// client in the connections panel, funds the account, places a buy, moves the price and fills the
// order from the forms; sees the events in the log (raw JSON, filters), at the client and as a buy
// mark on the chart; drops the client's connection with a fault and sees it come back on a new
// session; publishes a raw event; runs a shipped scenario to "passed"; takes the screenshots; and
// revokes the key from its row. Any page error or CSP violation fails it.
//
// A missing browser or node_modules is a failure, never a skip. The whole run is bounded
// (CONSOLE_TEST_TIMEOUT_MS, default 120 s), and every child process is killed on every way out.

import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
// An argument or USERSTREAM_BIN is taken from the working directory; the default from the repository.
const BIN = process.argv[2] || process.env.USERSTREAM_BIN
  ? path.resolve(process.argv[2] || process.env.USERSTREAM_BIN)
  : path.join(root, 'target/debug/userstream');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(root, 'target/console-screenshots');
const TIMEOUT_MS = Number(process.env.CONSOLE_TEST_TIMEOUT_MS || 120_000);
const STEP_MS = 20_000; // the longest one expectation may wait
const TOKEN = `console-test-${process.pid}-${Date.now()}`;

const children = new Set();
let browser = null;
let dataDir = null;
let finished = false;

function log(...args) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...args);
}
const started = Date.now();

function killChildren(signal) {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill(signal); } catch { /* already gone */ }
    }
  }
}

async function cleanup() {
  if (browser) {
    const b = browser;
    browser = null;
    await Promise.race([b.close().catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
  }
  killChildren('SIGTERM');
  const deadline = Date.now() + 3000;
  while ([...children].some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  killChildren('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = null;
}

async function finish(code, message) {
  if (finished) return;
  finished = true;
  if (message) (code === 0 ? console.log : console.error)(message);
  await cleanup();
  process.exit(code);
}

// Last resort, should the event loop be torn down without finish(): no child outlives us.
process.on('exit', () => killChildren('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => finish(1, `interrupted (${sig})`));
process.on('unhandledRejection', (e) => finish(1, `FAIL: ${e && e.stack ? e.stack : e}`));
process.on('uncaughtException', (e) => finish(1, `FAIL: ${e && e.stack ? e.stack : e}`));
setTimeout(() => finish(1, `FAIL: the whole test took longer than ${TIMEOUT_MS} ms`), TIMEOUT_MS);

function start(args, env, name) {
  // No USERSTREAM_* setting of the caller's leaks in: the test says all it wants.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('USERSTREAM_')));
  const child = spawn(BIN, args, { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.lines = [];
  child.errLines = [];
  const collect = (stream, into) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        into.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        child.emit('line', into);
      }
    });
  };
  collect(child.stdout, child.lines);
  collect(child.stderr, child.errLines);
  child.on('error', (e) => finish(1, `FAIL: could not start ${name} (${BIN}): ${e.message}`));
  child.on('exit', (code, signal) => {
    if (!finished && name === 'server') finish(1, `FAIL: the server exited (${code ?? signal}):\n${child.errLines.slice(-20).join('\n')}`);
  });
  return child;
}

async function until(what, fn, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function requireFile(file, what, fix) {
  try { accessSync(file, constants.X_OK); } catch {
    throw new Error(`${what} is missing: ${file} (${fix})`);
  }
}

async function main() {
  requireFile(CHROMIUM, 'chromium', 'apt-get install chromium, or set CHROMIUM; scripts/test.sh does it');
  requireFile(BIN, 'the userstream binary', 'cargo build, or pass its path');
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed: run npm ci in tests/browser (${e.message})`);
  }
  mkdirSync(SHOTS, { recursive: true });
  dataDir = mkdtempSync(path.join(tmpdir(), 'userstream-console-test-'));

  // ---- the server, on free loopback ports. A few pairs, BTCUSDT starting at the scenarios' price
  // (they trade around 60000), and 10-minute tokens, so that countdowns move in the screenshots.
  const config = path.join(dataDir, 'console-test.toml');
  writeFileSync(config, [
    '[[symbols]]', 'symbol = "BTCUSDT"', 'base = "BTC"', 'quote = "USDT"', 'price = "60000"',
    '[[symbols]]', 'symbol = "ETHUSDT"', 'base = "ETH"', 'quote = "USDT"',
    '[[symbols]]', 'symbol = "BNBUSDT"', 'base = "BNB"', 'quote = "USDT"',
    '[token]', 'default_validity_ms = 600000', '',
  ].join('\n'));
  const server = start(['serve', '--config', config, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dataDir],
    { USERSTREAM_ADMIN_TOKEN: TOKEN, RUST_LOG: process.env.RUST_LOG || 'warn' }, 'server');
  const line = await until('the server\'s listening line', () => server.lines.find((l) => l.includes(' admin on ')), 30_000);
  const publicUrl = line.match(/listening on (\S+)/)[1];
  const adminUrl = line.match(/admin on (\S+)/)[1];
  log(`server: public ${publicUrl}, admin ${adminUrl}`);

  // ---- the browser
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[19]/.test(m.text())) pageErrors.push(`console error: ${m.text()}`);
  });
  const tid = (id) => page.locator(`[data-testid="${id}"]`);
  const shot = async (name, locator) => {
    const file = path.join(SHOTS, `${name}.png`);
    await (locator || page).screenshot({ path: file, ...(locator ? {} : { fullPage: true }) });
    log(`screenshot ${path.relative(root, file)}`);
  };

  // 1. The login page, then the console behind it.
  await page.goto(adminUrl);
  await tid('login-token').waitFor();
  await shot('login');
  await tid('login-token').fill('not the token');
  await tid('login-submit').click();
  await until('the wrong token refused', async () => /wrong/i.test(await tid('login-error').textContent()));
  await tid('login-token').fill(TOKEN);
  await tid('login-submit').click();
  await tid('panel-connections').waitFor();
  await until('the live feed', async () => (await tid('stream-state').getAttribute('data-state')) === 'live');
  log('logged in; the live feed is open');

  // 2. A key, created in the UI; the page chooses its account.
  await tid('key-label').fill('browser test');
  await tid('key-create').click();
  const apiKey = (await tid('key-result-api').textContent()).trim();
  const uid = Number((await tid('key-result-uid').textContent()).trim());
  if (apiKey.length < 16 || !uid) throw new Error(`no key in the answer (${apiKey}, ${uid})`);
  log(`key created for uid ${uid}`);

  // 3. A real client on that key, seen in the connections panel.
  const tail = start(['tail', '--url', publicUrl, '--cross', '--json'], { USERSTREAM_API_KEY: apiKey }, 'tail');
  const firstSession = await until('the tail\'s connection in the panel', () => page.evaluate((u) => {
    const sub = document.querySelector(`[data-testid=connection] [data-testid=subscription][data-uid="${u}"]`);
    return sub && sub.closest('tr').dataset.sessionId;
  }, uid));
  log(`tail connected: session ${firstSession}`);
  await until('an expiry countdown', async () => /\d+(h|m|s)/.test(await page.locator('[data-testid=subscription] .countdown').first().textContent()));

  // 4. Fund the account, place a resting buy below the market, move the price towards it, fill it:
  // all from the forms.
  await tid('deposit-asset').fill('USDT');
  await tid('deposit-amount').fill('10000');
  await tid('deposit-send').click();
  await page.locator('[data-testid=balance][data-asset=USDT]').waitFor();
  const market = Number(await until('a BTCUSDT price', async () => (await tid('chart-price').textContent()).trim()));
  const limit = String(Math.floor(market * 0.99));
  await tid('order-symbol').selectOption('BTCUSDT');
  await tid('order-side').selectOption('BUY');
  await tid('order-type').selectOption('LIMIT');
  await tid('order-quantity').fill('0.01');
  await tid('order-price').fill(limit);
  await tid('order-place').click();
  await until('the order placed', async () => /: NEW/.test(await tid('order-result').textContent()));
  const orderId = await tid('order-result').getAttribute('data-order-id');
  await page.locator(`[data-testid=open-order][data-order-id="${orderId}"]`).waitFor();
  log(`order ${orderId} rests at ${limit} (market ${market})`);
  for (const step of [0.996, 0.993]) {
    const price = String(Math.floor(market * step));
    await tid('price-symbol').selectOption('BTCUSDT');
    await tid('price-value').fill(price);
    await tid('price-set').click();
    await until(`the price at ${price}`, async () => Number(await tid('chart-price').textContent()) === Number(price));
  }
  await page.locator(`[data-testid=open-order][data-order-id="${orderId}"]`).waitFor(); // still resting
  if ((await tid('fill-order-id').inputValue()) !== orderId) throw new Error('the fill form did not take the new order');
  await tid('order-fill').click();
  await until('the fill', async () => /FILLED/.test(await tid('fill-result').textContent()));
  await page.locator(`[data-testid=open-order][data-order-id="${orderId}"]`).waitFor({ state: 'detached' });

  // 5. The events in the log, with their raw JSON; the client got them too; the fill on the chart.
  const firstTrade = page.locator('[data-testid=event-row][data-type=executionReport]', { hasText: 'TRADE' }).first();
  await firstTrade.waitFor();
  const trade = page.locator(`[data-testid=event-row][data-position="${await firstTrade.getAttribute('data-position')}"]`);
  await page.locator('[data-testid=event-row][data-type=balanceUpdate]').first().waitFor();
  await trade.click();
  const raw = JSON.parse(await trade.locator('[data-testid=event-json]').textContent());
  if (raw.event.x !== 'TRADE' || String(raw.event.i) !== orderId || raw.uid !== uid) throw new Error(`unexpected raw JSON: ${JSON.stringify(raw)}`);
  await until('the trade at the client', () => tail.lines.some((l) => l.includes('"executionReport"') && l.includes('"TRADE"')));
  await tid('event-filter-type').selectOption('executionReport');
  await until('the type filter', async () => (await page.locator('[data-testid=event-row]').evaluateAll((rows) => rows.every((r) => r.dataset.type === 'executionReport'))));
  await tid('event-filter-uid').fill('999999999');
  await until('the uid filter', async () => (await page.locator('[data-testid=event-row]').count()) === 0);
  await tid('event-filter-uid').fill('');
  await tid('event-filter-type').selectOption('');
  await tid('chart-symbol').selectOption('BTCUSDT');
  await page.locator('[data-testid=chart-fill][data-side=BUY]').first().waitFor();
  log('fill seen in the log, at the client and on the chart');
  await trade.locator(".type").click(); // fold the JSON again for the screenshots
  if (await trade.locator('[data-testid=event-json]').count()) throw new Error('a second click did not fold the JSON');

  // 6. A disconnecting fault from the form: the session drops, the client comes back on a new one.
  const kinds = await tid('fault-kind').locator('option').evaluateAll((os) => os.map((o) => o.value));
  const kind = ['disconnect', 'drop'].find((k) => kinds.includes(k));
  if (!kind) throw new Error(`no disconnecting fault kind offered: ${kinds}`);
  await tid('fault-kind').selectOption(kind);
  await tid('fault-target').selectOption('account');
  await tid('fault-send').click();
  await until('the fault applied', async () => /1 session/.test(await tid('fault-result').textContent()));
  const secondSession = await until('a new session for the client', () => page.evaluate(([u, old]) => {
    const ids = [...document.querySelectorAll('[data-testid=connection]')].map((r) => r.dataset.sessionId);
    const sub = document.querySelector(`[data-testid=connection] [data-testid=subscription][data-uid="${u}"]`);
    return !ids.includes(old) && sub && sub.closest('tr').dataset.sessionId;
  }, [uid, firstSession]));
  log(`fault ${kind}: session ${firstSession} dropped, the client is back on session ${secondSession}`);

  // A raw event from the publish form reaches the client on its new session, and the log.
  await tid('publish-sample').click();
  await tid('publish-send').click();
  await until('the publish answer', async () => /published to 1 subscription/.test(await tid('publish-result').textContent()));
  await page.locator('[data-testid=event-row][data-type=balanceUpdate]', { hasText: 'USDT 1.00000000' }).first().waitFor();
  await until('the published event at the client', () => tail.lines.some((l) => l.includes('"balanceUpdate"') && l.includes('"1.00000000"')));
  log('a published event reached the client and the log');

  // 7. A shipped scenario from the runner, to its verdict.
  const names = await tid('scenario-name').locator('option').evaluateAll((os) => os.map((o) => o.value));
  const scenario = names.includes('full_fill') ? 'full_fill' : names[0];
  if (!scenario) throw new Error('the runner lists no scenario');
  await tid('scenario-name').selectOption(scenario);
  await tid('scenario-run').click();
  const verdict = await until(`scenario ${scenario}'s verdict`, async () => {
    const s = await tid('scenario-state').getAttribute('data-state');
    return s === 'passed' || s === 'failed' ? s : null;
  }, 60_000);
  if (verdict !== 'passed') throw new Error(`scenario ${scenario} failed:\n${await tid('scenario-lines').textContent()}`);
  log(`scenario ${scenario} passed`);

  // 8. Screenshots: the page and each panel.
  await tid('chart-symbol').selectOption('BTCUSDT');
  await page.waitForTimeout(300);
  await shot('console');
  // The live panels without the forms below them: the picture for docs/console.png.
  const bottom = await tid('panel-scenarios').evaluate((n) => n.getBoundingClientRect().bottom + window.scrollY);
  const top = path.join(SHOTS, 'console-top.png');
  await page.screenshot({ path: top, fullPage: true, clip: { x: 0, y: 0, width: 1400, height: Math.ceil(bottom + 12) } });
  log(`screenshot ${path.relative(root, top)}`);
  for (const panel of ['connections', 'account', 'chart', 'events', 'actions', 'scenarios']) await shot(`panel-${panel}`, tid(`panel-${panel}`));

  // 9. Revoking the key from its row ends the client's subscription.
  await page.locator(`[data-testid=key][data-api-key="${apiKey}"] [data-testid=key-row-revoke]`).click();
  await until('the revocation', async () => /revoked; 1 subscription\(s\) ended/.test(await tid('revoke-result').textContent()));
  await page.locator(`[data-testid=subscription][data-uid="${uid}"]`).first().waitFor({ state: 'detached' });
  // The client hears its stream end, asks for a new token and is refused: the key is gone.
  await until('the client refused', () => tail.errLines.some((l) => l.includes('-2015')));
  log('key revoked from the UI: the subscription ended, the client is refused');

  if (pageErrors.length) throw new Error(`the page reported errors:\n${pageErrors.join('\n')}`);
  await finish(0, `PASS: the console in chromium (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main().catch((e) => finish(1, `FAIL: ${e && e.stack ? e.stack : e}`));
