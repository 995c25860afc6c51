#!/usr/bin/env node
// Plays an HLS stream with hls.js in headless Chromium (Debian's, driven by playwright-core)
// for a fixed time, then prints what hls.js reported (JSON) and exits.
//
// usage: node hlsjs-player.js PAGE-URL SECONDS PROFILE-DIR [FORCE-LEVEL-AT-S LEVEL]...
//
// PAGE-URL is hlsjs-page.html served by the sample's web server, with ?src= (and ?ll=1).
// PROFILE-DIR must be a fresh, empty directory (the browser profile).  Each optional
// pair FORCE-LEVEL-AT-S LEVEL sets hls.nextLevel = LEVEL that many seconds after start
// (an ABR switch the sample asks for, recorded in the log as `force_level`).
// Chromium runs without sandbox, GPU, background networking, component updates or sync.
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const [url, seconds, profile, ...forces] = process.argv.slice(2);
  if (!url || !seconds || !profile || forces.length % 2) {
    console.error('usage: hlsjs-player.js PAGE-URL SECONDS PROFILE-DIR [AT-S LEVEL]...');
    process.exit(2);
  }
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    await page.goto(url);
    const start = Date.now();
    const plan = [];
    for (let i = 0; i < forces.length; i += 2) plan.push([Number(forces[i]) * 1000, Number(forces[i + 1])]);
    plan.sort((a, b) => a[0] - b[0]);
    for (const [at, level] of plan) {
      await page.waitForTimeout(Math.max(0, at - (Date.now() - start)));
      await page.evaluate((l) => window.forceLevel(l), level);
    }
    await page.waitForTimeout(Math.max(0, Number(seconds) * 1000 - (Date.now() - start)));
    const log = await page.evaluate(() => ({
      log: window.playerLog,
      currentTime: document.getElementById('v').currentTime,
    }));
    console.log(JSON.stringify(log));
  } finally {
    await ctx.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
