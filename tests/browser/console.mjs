// Drives presignd's ops console (GET /console) in headless Chromium as a person would, and
// prints what it saw as JSON on stdout (one line). Started by tests/it/console.rs:
// `node console.mjs PLAN.json`.
//
// PLAN: { "console": URL, "token": ops JWT, "user_token": JWT without ops rights,
//         "subject": whose rows to search, "leaked_url": a presigned URL presignd issued,
//         "link_id": a link to revoke, "screenshots": directory }

import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import puppeteer from 'puppeteer-core'

const plan = JSON.parse(await readFile(process.argv[2], 'utf8'))
await mkdir(plan.screenshots, { recursive: true })
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
  protocolTimeout: 120_000,
})
const seen = { console: [], user_console: [], screenshots: [] }
const WAIT = { timeout: 30_000 }

async function open(viewport, log = seen.console) {
  const page = await browser.newPage()
  await page.setViewport(viewport)
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn') log.push(`${message.type()}: ${message.text()}`)
  })
  page.on('pageerror', (error) => log.push(`pageerror: ${error.message}`))
  page.on('requestfailed', (request) => log.push(`requestfailed: ${request.url()} ${request.failure()?.errorText}`))
  // The page confirms destructive actions; a person clicks OK.
  page.on('dialog', (dialog) => dialog.accept())
  // Any CSP violation (an inline script, a remote asset) is a failure.
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`)
    })
  })
  return page
}

async function shot(page, name) {
  const file = path.join(plan.screenshots, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  seen.screenshots.push(file)
}

// Views switch on the hash change, a task after the click: wait for the view itself.
async function tab(page, view) {
  await page.click(`#tab-${view}`)
  await page.waitForSelector(`#view-${view}:not([hidden])`, WAIT)
}

const text = (page, selector) => page.$eval(selector, (element) => element.textContent.trim())

async function signIn(page, token) {
  await page.goto(plan.console, { waitUntil: 'load' })
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true', WAIT)
  await page.waitForSelector('#sign-in:not([hidden])', WAIT)
  await page.type('#token', token)
  await page.click('#sign-in-form button[type=submit]')
  await page.waitForSelector('#app:not([hidden])', WAIT)
}

try {
  const page = await open({ width: 1280, height: 900 })
  await page.goto(plan.console, { waitUntil: 'load' })
  await page.waitForSelector('#sign-in:not([hidden])', WAIT)
  await shot(page, '01-sign-in')
  await signIn(page, plan.token)
  seen.who = await text(page, '#who')
  seen.token_in_session_storage = await page.evaluate(() => Object.keys(sessionStorage).length === 1 && Object.keys(localStorage).length === 0)

  // Audit search: the subject's rows, newest first, and one row's details.
  await page.type('#audit-form [name=subject]', plan.subject)
  await page.click('#audit-form button[type=submit]')
  await page.waitForSelector('#audit-table:not([hidden]) tbody tr', WAIT)
  seen.audit_rows = await page.$$eval('#audit-table tbody tr', (rows) => rows.map((row) => [...row.cells].map((cell) => cell.textContent.trim())))
  seen.audit_times_have_utc_titles = await page.$$eval('#audit-table time', (times) => times.length > 0 && times.every((t) => t.title.endsWith('(UTC)')))
  await page.click('#audit-table tbody tr a')
  await page.waitForSelector('#audit-detail:not([hidden])', WAIT)
  seen.detail = await text(page, '#audit-detail dl')
  seen.detail_hash = await page.evaluate(() => location.hash)
  await shot(page, '02-audit-search')

  // Keyboard: from the focused Audit tab, the right arrow selects the Leaked URL view.
  await page.focus('#tab-audit')
  await page.keyboard.press('ArrowRight')
  await page.waitForSelector('#view-leak:not([hidden])', WAIT)
  seen.keyboard_focus = await page.evaluate(() => document.activeElement.id)
  await page.type('#leak-url', plan.leaked_url)
  await page.click('#leak-form button[type=submit]')
  await page.waitForSelector('#leak-result:not([hidden])', WAIT)
  seen.leak = await text(page, '#leak-result')
  await shot(page, '03-leaked-url')

  // The chart, with data.
  await tab(page, 'activity')
  await page.waitForSelector('#chart svg', WAIT)
  seen.chart_bars = await page.$$eval('#chart rect', (bars) => bars.filter((bar) => Number(bar.getAttribute('height')) > 0).length)
  seen.activity = await text(page, '#activity-status')
  await shot(page, '04-activity-chart')

  // Share links: revoke one.
  await tab(page, 'links')
  await page.waitForSelector('#links-table:not([hidden]) tbody tr', WAIT)
  const revoke = await page.waitForSelector(`#links-table tr:has(input[value="${plan.link_id}"]) button.revoke`, WAIT)
  await revoke.click()
  await page.waitForFunction(() => /revoked\.$/.test(document.querySelector('#links-status').textContent), WAIT)
  seen.links_status = await text(page, '#links-status')
  seen.link_state = await page.$eval(`#links-table tr:has(input[value="${plan.link_id}"])`, (row) => row.cells[4].textContent.trim())
  await shot(page, '05-share-links')

  // Open uploads.
  await tab(page, 'uploads')
  await page.waitForFunction(() => document.querySelector('#uploads-status').textContent.includes('session'), WAIT)
  seen.uploads = await page.$$eval('#uploads-table tbody tr', (rows) => rows.map((row) => row.cells[2].textContent.trim()))
  await shot(page, '06-uploads')

  // The policy simulator: why was someone denied?
  await tab(page, 'simulate')
  await page.type('#simulate-form [name=subject]', 'mallory')
  await page.select('#simulate-form [name=action]', 's3:GetObject')
  await page.type('#simulate-form [name=resource]', `uploads/${plan.subject}/report.pdf`)
  await page.click('#simulate-form button[type=submit]')
  await page.waitForSelector('#simulate-result:not([hidden])', WAIT)
  seen.simulation = await text(page, '#simulate-result')
  await shot(page, '07-policy-simulator')

  // A phone: the same page, narrow.
  await page.setViewport({ width: 390, height: 844, isMobile: true })
  await tab(page, 'audit')
  seen.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1)
  await shot(page, '08-phone')
  await page.close()

  // Someone without ops rights: a clear 403 naming the permission, no console error.
  const user = await open({ width: 1280, height: 900 }, seen.user_console)
  await signIn(user, plan.user_token)
  await user.click('#audit-form button[type=submit]')
  await user.waitForSelector('#audit-status.error', WAIT)
  seen.forbidden = await text(user, '#audit-status')
  await shot(user, '09-forbidden')
  await user.close()
} catch (error) {
  seen.error = `${error.message}`
  // What the page said at the time, for the failure message.
  const pages = await browser.pages()
  seen.statuses = await Promise.all(pages.map((page) => page.evaluate(() =>
    [...document.querySelectorAll('.status')].map((box) => `${box.id}: ${box.textContent}`)).catch(() => [])))
} finally {
  await browser.close()
}
process.stdout.write(`${JSON.stringify(seen)}\n`)
