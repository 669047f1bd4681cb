// Test helper: Debian's Chromium through playwright-core (never a downloaded browser), with a
// fresh profile, the fake camera and every page's console errors and exceptions collected.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.SPEAKUP_CHROMIUM ?? '/usr/bin/chromium';

const BASE_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// fakeUi: grant the camera without asking (false: the request is denied, as a headless prompt is).
// loopback: ICE on 127.0.0.1 (for pages talking WebRTC to each other on this machine).
// problems: an array to collect console errors and exceptions into (shared across launches).
export async function launch({ fakeUi = true, fakeCamera = true, loopback = false, extra = [], problems = [] } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'speakup-chromium-'));
  const args = [...BASE_FLAGS];
  if (fakeCamera) args.push('--use-fake-device-for-media-stream');
  if (fakeUi) args.push('--use-fake-ui-for-media-stream');
  if (loopback) args.push('--disable-features=WebRtcHideLocalIpsWithMdns', '--allow-loopback-in-peer-connection');
  args.push(...extra);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1280, height: 900 },
  });
  const watch = (page, name) => {
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push({ page: name, kind: 'console', text: msg.text() });
    });
    page.on('pageerror', (error) => problems.push({ page: name, kind: 'exception', text: String(error) }));
  };
  return {
    context,
    problems,
    async newPage(name = 'page') {
      const page = await context.newPage();
      watch(page, name);
      return page;
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
