/**
 * The GraphQL playground as a person opens it: GET /graphql in a real browser (Debian's chromium
 * driven by playwright-core) through the embedded gateway. Ruru's assets under /ruru-static/
 * load, the IDE renders, and running `{ __typename }` shows the answer. Skipped, saying why, only
 * when /usr/bin/chromium is not installed (`apt-get install -y chromium`).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, haveChromium, launchChromium, warnIfNoChromium } from '../test/helpers/browser.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

warnIfNoChromium('graphql/playground.test.ts');

let t: TestStack;
let browser: Browser;

beforeAll(async () => {
  if (!haveChromium) return;
  t = await startTestStack({ fixtures: 'rest-basic.sql' });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe.skipIf(!haveChromium)(`the GraphQL playground in a browser${haveChromium ? '' : ` (skipped: ${CHROMIUM} is not installed)`}`, () => {
  it('GET /graphql renders Ruru with every asset, and runs { __typename }', async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    const pageErrors: string[] = [];
    page.on('response', (res) => {
      if (res.status() >= 400) failed.push(`${res.status()} ${new URL(res.url()).pathname}`);
    });
    page.on('requestfailed', (req) => failed.push(`failed ${new URL(req.url()).pathname}: ${req.failure()?.errorText}`));
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const assets: string[] = [];
    page.on('response', (res) => {
      const path = new URL(res.url()).pathname;
      if (path.startsWith('/ruru-static/') && res.ok()) assets.push(path);
    });

    const res = await page.goto(`${t.stack.url}/graphql`);
    expect(res?.status()).toBe(200);
    // Rendered by Ruru's script (the server-sent page only says "Loading..."): the editor and the run button.
    const run = page.locator('.graphiql-execute-button');
    const editor = page.locator('.graphiql-query-editor .monaco-editor').first();
    try {
      await run.waitFor({ state: 'visible', timeout: 20_000 });
      await editor.waitFor({ state: 'visible', timeout: 20_000 });
    } catch (err) {
      throw new Error(`Ruru did not render (${(err as Error).message.split('\n')[0]}); failed requests: ${failed.join(', ') || 'none'}; page errors: ${pageErrors.join(', ') || 'none'}`);
    }
    expect(assets).toEqual(expect.arrayContaining(['/ruru-static/ruru.js', '/ruru-static/ruru.css']));

    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type('{ __typename }');
    await run.click();
    const result = page.locator('.graphiql-response .result-window');
    await expect.poll(async () => (await result.innerText()).replace(/\s+/g, ''), { timeout: 15_000 }).toContain('"__typename":"Query"');

    expect(failed, failed.join('\n')).toEqual([]);
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
    await page.close();
  }, 60_000);
});
