/** Debian's chromium driven by playwright-core, for the tests that use a real browser. */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/** Says (once per file) why a browser test is skipped. */
export function warnIfNoChromium(file: string): void {
  if (!haveChromium) console.warn(`${file} skipped: ${CHROMIUM} is not installed (apt-get install -y chromium)`);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
