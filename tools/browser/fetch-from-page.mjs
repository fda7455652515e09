// Opens a page in Debian's headless Chromium and makes fetch() calls from it, as a browser
// front-end (a chat UI) calls the gateway: the browser's own CORS rules decide what the page sees.
// Usage: node fetch-from-page.mjs PAGE_URL CALLS_JSON
//   CALLS_JSON: [{"url", "method", "headers", "body"}, ...]
// Prints one JSON object: {"origin", "results": [{"ok", "status", "headers", "body"} | {"ok": false, "error"}]}.
// `headers` holds only what a page's script may read (safelisted or exposed by the server).
import { chromium } from 'playwright-core';

const [pageUrl, callsJson] = process.argv.slice(2);
const calls = JSON.parse(callsJson);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  const results = await page.evaluate(async (calls) => {
    const out = [];
    for (const call of calls) {
      try {
        const response = await fetch(call.url, { method: call.method, headers: call.headers, body: call.body });
        const headers = {};
        response.headers.forEach((value, name) => { headers[name] = value; });
        out.push({ ok: true, status: response.status, headers, body: await response.text() });
      } catch (error) {
        out.push({ ok: false, error: String(error) });
      }
    }
    return out;
  }, calls);
  const origin = await page.evaluate(() => location.origin);
  console.log(JSON.stringify({ origin, results }));
} finally {
  await browser.close();
}
