// Runs a plan of Uppy scenarios in headless Chromium and prints what happened as JSON on
// stdout (one line). Started by tests/it/browser.rs: `node run.mjs PLAN.json`.
//
// PLAN: { "scenarios": [ { "name", "page": URL, "file": path, ...what main.js reads } ] }

import { readFile } from 'node:fs/promises'
import puppeteer from 'puppeteer-core'

const plan = JSON.parse(await readFile(process.argv[2], 'utf8'))
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  // Root in containers has no user namespaces for the sandbox; /dev/shm is small there.
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
  protocolTimeout: 300_000,
})
const results = []
try {
  for (const scenario of plan.scenarios) {
    const page = await browser.newPage()
    const console_ = []
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warn') {
        console_.push(`${message.type()}: ${message.text()}`)
      }
    })
    page.on('pageerror', (error) => console_.push(`pageerror: ${error.message}`))
    page.on('requestfailed', (request) =>
      console_.push(`requestfailed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`),
    )
    await page.goto(scenario.page, { waitUntil: 'load' })
    await page.waitForFunction(() => window.pageReady === true)
    const input = await page.$('#file')
    await input.uploadFile(scenario.file)
    let result
    try {
      result = await page.evaluate((s) => window.runScenario(s), scenario)
    } catch (error) {
      result = { ok: false, error: `runScenario threw: ${error.message}` }
    }
    results.push({ name: scenario.name, ...result, console: console_ })
    await page.close()
  }
} finally {
  await browser.close()
}
process.stdout.write(`${JSON.stringify({ results })}\n`)
